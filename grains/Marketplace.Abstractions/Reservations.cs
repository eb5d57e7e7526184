using Marketplace.Domain;

namespace Marketplace;

[GenerateSerializer]
public enum ReservationState
{
    /// <summary>The saga is holding capacity and funds.</summary>
    Pending,
    Confirmed,
    Active,
    Completed,
    Cancelled,
    Interrupted,
    Failed,
}

/// <summary>
/// What the market decided: which pool, which hours, what price, which voucher pays its share. The provider's and the
/// site's names are those the market knew when it made the reservation (null for a pool listed before names were kept).
/// </summary>
[GenerateSerializer, Immutable, Alias("reservation-plan")]
public sealed record ReservationPlan(
    [Id(0)] string ReservationId,
    [Id(1)] string BidId,
    [Id(2)] string TenantId,
    [Id(3)] string PoolId,
    [Id(4)] string ProviderId,
    [Id(5)] string ProviderCreditCode,
    [Id(6)] string GpuModel,
    [Id(7)] string Province,
    [Id(8)] string SiteId,
    [Id(9)] long StartHour,
    [Id(10)] int Hours,
    [Id(11)] int Gpus,
    [Id(12)] long FenPerGpuHour,
    [Id(13)] string? VoucherId,
    [Id(14)] string? ProviderName = null,
    [Id(15)] string? SiteName = null,
    [Id(16)] int? ProviderReliabilityBasisPoints = null)
{
    public long CostFen => Money.Cost(FenPerGpuHour, Gpus, Hours);
    public DateTimeOffset StartsAt => Marketplace.Hours.ToTime(StartHour);
    public DateTimeOffset EndsAt => Marketplace.Hours.ToTime(StartHour + Hours);
}

/// <summary>How a finished reservation was paid: hours used, the voucher's capture and the tenant's cash share.</summary>
[GenerateSerializer, Immutable, Alias("settlement")]
public sealed record Settlement(
    [Id(0)] int UsedHours,
    [Id(1)] long CostFen,
    [Id(2)] long VoucherFen,
    [Id(3)] long CashFen,
    [Id(4)] DateTimeOffset SettledAt);

[GenerateSerializer, Immutable, Alias("reservation-view")]
public sealed record ReservationView(
    [Id(0)] string Id,
    [Id(1)] ReservationPlan Plan,
    [Id(2)] ReservationState State,
    [Id(3)] long VoucherFen,
    [Id(4)] long CashFen,
    [Id(5)] string? ReasonCode,
    [Id(6)] string? Reason,
    [Id(7)] Settlement? Settlement,
    [Id(8)] DateTimeOffset CreatedAt,
    [Id(9)] DateTimeOffset UpdatedAt,
    [Id(10)] long Version,
    [Id(11)] DateTimeOffset EndsAt)
{
    /// <summary>Hours the reservation keeps: all of them, or those before an outage cut it short.</summary>
    public int KeptHours => (int)((EndsAt - Plan.StartsAt).Ticks / TimeSpan.TicksPerHour);

    public bool IsFinal => State is ReservationState.Completed or ReservationState.Cancelled or ReservationState.Interrupted or ReservationState.Failed;
}

/// <summary>
/// What cancelling a reservation would do as of <paramref name="AsOf"/>: refused (with the code and reason the cancel
/// would give), or the voucher's hold returned to it, the prepaid cash returned to the company and the cancellation
/// charge paid of it to the provider (rule 8).
/// </summary>
[GenerateSerializer, Immutable, Alias("cancellation-quote")]
public sealed record CancellationQuote(
    [Id(0)] string ReservationId,
    [Id(1)] bool Cancellable,
    [Id(2)] string? RefusalCode,
    [Id(3)] string? Refusal,
    [Id(4)] long VoucherRefundFen,
    [Id(5)] long CashRefundFen,
    [Id(6)] DateTimeOffset AsOf,
    [Id(7)] long ChargeFen = 0);

/// <summary>The end of a reservation saga: confirmed, or compensated with the reason.</summary>
[GenerateSerializer, Immutable, Alias("saga-outcome")]
public sealed record SagaOutcome(
    [Id(0)] ReservationView Reservation,
    [Id(1)] bool CapacityRefused)
{
    public bool Confirmed => Reservation.State is ReservationState.Confirmed or ReservationState.Active or ReservationState.Completed;
}
