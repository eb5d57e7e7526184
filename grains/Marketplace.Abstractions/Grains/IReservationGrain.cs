namespace Marketplace.Grains;

/// <summary>
/// One rental (key: reservation id). Runs the saga hold capacity → hold voucher funds → confirm, compensating on
/// any refusal; then Confirmed → Active → Completed with settlement, or Cancelled / Interrupted.
/// </summary>
[Alias("reservation")]
public interface IReservationGrain : IGrainWithStringKey
{
    /// <summary>Runs the saga to Confirmed or to full compensation. Idempotent: the same plan returns the same outcome.</summary>
    [Alias("open")] Task<SagaOutcome> Open(ReservationPlan plan);

    [Alias("get")] Task<ReservationView?> Get();

    [Alias("cancel")] Task<ReservationView> Cancel(string reasonCode, string reason);

    /// <summary>What Cancel would do now: refused with its reason, or what the voucher gets back and what cash is no longer owed.</summary>
    [Alias("quote-cancellation")] Task<CancellationQuote> QuoteCancellation();

    /// <summary>An outage hits the reservation from <paramref name="from"/>: settle the hours used and release the rest.</summary>
    [Alias("interrupt")] Task<ReservationView> Interrupt(DateTimeOffset from, string reason);

    /// <summary>Resumes an unfinished saga and applies start, end and settlement as of now.</summary>
    [Alias("advance")] Task<ReservationView?> Advance();
}
