using Marketplace.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Marketplace.Grains;

/// <summary>
/// One rental after its fill: start, settlement, cancel and interruption; and, for a reservation written before fills
/// were the market's, the saga that confirms it (<see cref="ReservationSaga"/>), run again by its market or the sweeper
/// when a crash cut it short.
/// </summary>
public sealed class ReservationGrain(
    ReservationStore store,
    Npgsql.NpgsqlDataSource db,
    CommitBatcher writer,
    IOptions<MarketOptions> options,
    IOptions<MarketLimits> limits,
    CashStore cashStore,
    SagaFaults faults,
    [FromKeyedServices(Names.ClockKeys.Market)] TimeProvider clock,
    ILogger<ReservationGrain> logger) : Grain, IReservationGrain
{
    private PersistedRow<ReservationRecord>? _row;

    private string Id => this.GetPrimaryKeyString();

    private PersistedRow<ReservationRecord> Row => _row ??= new PersistedRow<ReservationRecord>(store, Id, "reservation-changed");

    private ReservationRecord? Current => Row.State;

    private ReservationCash Cash => new(cashStore, db, writer, clock);

    private Task LoadAsync() => Row.LoadAsync();

    public async Task<SagaOutcome> Open(ReservationPlan plan)
    {
        if (Current is null)
        {
            if (plan.ReservationId != Id || plan.Hours <= 0 || plan.Gpus <= 0 || plan.FenPerGpuHour <= 0)
            {
                throw DomainException.Rule("invalid-plan", "a reservation plan needs its own id, hours, GPUs and a price");
            }
            var now = clock.GetUtcNow();
            var pending = new ReservationRecord(plan, ReservationState.Pending, 0, plan.CostFen, null, null, null, false,
                plan.StartHour + plan.Hours, null, now, now);
            if (await Row.TryCreateAsync(pending))
            {
                Publish();
            }
            // Otherwise it was opened before (a retry): carry on from its stored state.
        }
        if (Current!.State == ReservationState.Pending)
        {
            await RunSagaAsync();
        }
        return new SagaOutcome(View(), Current.CapacityRefused);
    }

    public async Task<ReservationView?> Get()
    {
        await LoadAsync();
        return Current is null ? null : View();
    }

    public async Task<ReservationView> Cancel(string reasonCode, string reason)
    {
        await LoadAsync();
        var r = Existing();
        if (r.State == ReservationState.Cancelled)
        {
            return View();
        }
        if (CancelRefusal(r, clock.GetUtcNow()) is { } refusal)
        {
            throw refusal;
        }
        await ReleaseFundsAsync(r);
        await Cash.ReleaseAsync(Id, r.Plan, reasonCode == TenantCancellation ? Charge(r, clock.GetUtcNow()) : 0, 0, "cancel");
        await Pool(r).Release(Id, null);
        await SaveAsync(r with
        {
            State = ReservationState.Cancelled,
            ReasonCode = reasonCode,
            Reason = reason,
            ReleasedFromHour = r.Plan.StartHour,
            Settlement = new Settlement(0, 0, 0, 0, clock.GetUtcNow()),
        });
        return View();
    }

    public async Task<CancellationQuote> QuoteCancellation()
    {
        await LoadAsync();
        var r = Existing();
        var now = clock.GetUtcNow();
        if (CancelRefusal(r, now) is { } refusal)
        {
            return new CancellationQuote(Id, false, refusal.Code, refusal.Message, 0, 0, now);
        }
        var held = await Cash.HeldForAsync(Id) ?? 0;
        var charge = Math.Min(Charge(r, now), held);
        return new CancellationQuote(Id, true, null, null, r.VoucherFen, held - charge, now, charge);
    }

    /// <summary>The reason code of the tenant's own cancellation: the only one that costs the tenant a charge.</summary>
    public const string TenantCancellation = "cancelled";

    /// <summary>Rule 8's market terms: free until the free hours before the start, then a share of the reservation's cost.</summary>
    private long Charge(ReservationRecord r, DateTimeOffset now) =>
        Money.CancellationCharge(r.Plan.CostFen, r.Plan.StartsAt, now, limits.Value.FreeCancellationHours, limits.Value.CancellationChargeBasisPoints);

    /// <summary>What the provider pays back of the hours its outage left undelivered (rule 8's market terms).</summary>
    private long OutageRefund(ReservationRecord r, int deliveredHours) => RentalSettlement.OutageRefund(
        r.Plan.FenPerGpuHour, r.Plan.Gpus, r.Plan.Hours, deliveredHours, limits.Value.CancellationChargeBasisPoints);

    /// <summary>
    /// Why the reservation cannot be cancelled now, or null when it can: only a confirmed reservation that has not
    /// started. Cancel applies this rule and QuoteCancellation answers it. A cancellation releases the voucher's whole
    /// hold (VoucherFen) and the cash hold less the cancellation charge (rule 8).
    /// </summary>
    private static DomainException? CancelRefusal(ReservationRecord r, DateTimeOffset now) => r.State switch
    {
        ReservationState.Pending => DomainException.Conflict("reservation-pending", "the reservation is still being confirmed; try again"),
        ReservationState.Confirmed when now < r.Plan.StartsAt => null,
        ReservationState.Confirmed or ReservationState.Active =>
            DomainException.Rule("reservation-started", "a reservation can be cancelled only before it starts"),
        _ => DomainException.Rule("reservation-ended", $"the reservation is {r.State}"),
    };

    public async Task<ReservationView> Interrupt(DateTimeOffset from, string reason)
    {
        await LoadAsync();
        var r = Existing();
        if (r.State == ReservationState.Interrupted)
        {
            await FinishInterruptionAsync(); // a repeat, maybe after a crash cut the first one short
            return View();
        }
        if (r.State is not (ReservationState.Confirmed or ReservationState.Active))
        {
            throw DomainException.Rule("reservation-not-running", $"the reservation is {r.State}");
        }
        var kept = RentalSettlement.HoursBefore(Hours.Floor(from), r.Plan.StartHour, r.Plan.Hours);
        await Pool(r).Release(Id, r.Plan.StartHour + kept);
        await SaveAsync(r with
        {
            State = ReservationState.Interrupted,
            ReasonCode = "provider-outage",
            Reason = $"provider outage from {from:u}: {reason}",
            ReleasedFromHour = r.Plan.StartHour + kept,
        });
        await FinishInterruptionAsync();
        return View();
    }

    /// <summary>
    /// After the interruption is recorded: the voucher keeps holding only its share of the hours kept (the rest is free
    /// for the re-match at once), and hours already over are settled. Each step is idempotent.
    /// </summary>
    private async Task FinishInterruptionAsync()
    {
        var r = Current!;
        if (r.Settlement is not null)
        {
            return;
        }
        var kept = (int)(r.ReleasedFromHour - r.Plan.StartHour);
        if (kept == 0)
        {
            await ReleaseFundsAsync(r);
            await Cash.ReleaseAsync(Id, r.Plan, 0, OutageRefund(r, 0), "interrupt");
            await SaveAsync(r with { Settlement = new Settlement(0, 0, 0, 0, clock.GetUtcNow()) });
            return;
        }
        if (r.Plan.VoucherId is { } voucherId && r.VoucherFen > 0)
        {
            await GrainFactory.GetGrain<IVoucherGrain>(voucherId).Trim(Id, Money.Prorate(r.VoucherFen, kept, r.Plan.Hours));
        }
        if (clock.GetUtcNow() >= Hours.ToTime(r.EndHour))
        {
            await SettleAsync(kept, ReservationState.Interrupted);
        }
    }

    public async Task<ReservationView?> Advance()
    {
        await LoadAsync();
        if (Current is null)
        {
            return null;
        }
        if (Current.State == ReservationState.Pending)
        {
            await RunSagaAsync();
        }
        var settled = Current.Settlement is not null;
        var now = clock.GetUtcNow();
        if (Current.State == ReservationState.Confirmed && now >= Current.Plan.StartsAt)
        {
            await SaveAsync(Current with { State = ReservationState.Active });
        }
        if (Current.State == ReservationState.Active && now >= Current.Plan.EndsAt)
        {
            await SettleAsync(Current.Plan.Hours, ReservationState.Completed);
        }
        if (Current.State == ReservationState.Interrupted && Current.Settlement is null && now >= Hours.ToTime(Current.EndHour))
        {
            await SettleAsync((int)(Current.EndHour - Current.Plan.StartHour), ReservationState.Interrupted);
        }
        if (!settled && Current.Settlement is not null)
        {
            // Its provider's record of delivery moved on: the provider tells its pools' markets its reliability again.
            GrainFactory.GetGrain<IProviderGrain>(Current.Plan.ProviderId).RecordChanged().Ignore();
        }
        return View();
    }

    private async Task RunSagaAsync()
    {
        var next = await new ReservationSaga(GrainFactory, faults, options.Value.HoldTtl).RunAsync(Id, Current!);
        if (next.State == ReservationState.Failed)
        {
            logger.LogInformation("Reservation {ReservationId} failed: {Code}", Id, next.ReasonCode);
        }
        await SaveAsync(next);
    }

    /// <summary>
    /// Rule 7: the voucher pays its share of the hours used (captured from its hold, the rest released), the tenant
    /// pays the rest from its cash hold and the provider is owed the whole cost, as one balanced ledger transaction.
    /// </summary>
    private async Task SettleAsync(int usedHours, ReservationState finalState)
    {
        var r = Current!;
        var plan = r.Plan;
        var (cost, voucherShare) = RentalSettlement.Used(plan.FenPerGpuHour, plan.Gpus, plan.Hours, usedHours, r.VoucherFen);
        long captured = 0;
        if (plan.VoucherId is { } voucherId && r.VoucherFen > 0)
        {
            captured = await GrainFactory.GetGrain<IVoucherGrain>(voucherId).Capture(Id, voucherShare);
        }
        var now = clock.GetUtcNow();
        var held = await Cash.HeldForAsync(Id);
        var settlement = RentalSettlement.Of(cost, captured, held, finalState == ReservationState.Interrupted ? OutageRefund(r, usedHours) : 0);
        await Cash.SettleAsync(Id, r, usedHours, settlement, held, now);
        if (cost > 0)
        {
            await Pool(r).RecordEarnings(Id, cost);
        }
        await SaveAsync(r with { State = finalState, Settlement = new Settlement(usedHours, cost, captured, settlement.CashFen, now) });
    }

    private Task ReleaseFundsAsync(ReservationRecord r) => ReservationSaga.ReleaseFundsAsync(GrainFactory, Id, r);

    private IGpuPoolGrain Pool(ReservationRecord r) => GrainFactory.GetGrain<IGpuPoolGrain>(r.Plan.PoolId);

    private ReservationRecord Existing() => Current ?? throw DomainException.NotFound("reservation", Id);

    private async Task SaveAsync(ReservationRecord next)
    {
        await Row.SaveAsync(next with { UpdatedAt = clock.GetUtcNow() });
        Publish();
    }

    private void Publish()
    {
        var view = View();
        GrainFactory.Publish(new MarketUpdate(UpdateKind.Reservation, view.Plan.TenantId, Id, view.Version, view.UpdatedAt, Reservation: view));
    }

    private ReservationView View() => Current!.ToView(Id, Row.Version);
}
