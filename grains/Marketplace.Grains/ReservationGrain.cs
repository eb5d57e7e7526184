using Marketplace.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Marketplace.Grains;

/// <summary>
/// One rental: runs the saga hold capacity → hold voucher funds → confirm, and compensates every step when a step
/// refuses. Each step and each compensation is idempotent by reservation id, and the saga records no step of its own:
/// a saga cut short by a crash is simply run again (by its market or the sweeper) and ends confirmed or fully
/// compensated, never half.
/// </summary>
public sealed class ReservationGrain(
    ReservationStore store,
    Npgsql.NpgsqlDataSource db,
    CommitBatcher writer,
    IOptions<MarketOptions> options,
    IOptions<MarketLimits> limits,
    CashStore cash,
    SagaFaults faults,
    [FromKeyedServices(Names.ClockKeys.Market)] TimeProvider clock,
    ILogger<ReservationGrain> logger) : Grain, IReservationGrain
{
    private PersistedRow<ReservationRecord>? _row;

    private string Id => this.GetPrimaryKeyString();

    private PersistedRow<ReservationRecord> Row => _row ??= new PersistedRow<ReservationRecord>(store, Id, "reservation-changed");

    private ReservationRecord? Current => Row.State;

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
        await ReleaseCashAsync(r, reasonCode == TenantCancellation ? Charge(r, clock.GetUtcNow()) : 0, 0, "cancel");
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
        var held = await cash.HeldForAsync(Id) ?? 0;
        var charge = Math.Min(Charge(r, now), held);
        return new CancellationQuote(Id, true, null, null, r.VoucherFen, held - charge, now, charge);
    }

    /// <summary>The reason code of the tenant's own cancellation: the only one that costs the tenant a charge.</summary>
    public const string TenantCancellation = "cancelled";

    /// <summary>Rule 8's market terms: free until the free hours before the start, then a share of the reservation's cost.</summary>
    private long Charge(ReservationRecord r, DateTimeOffset now) =>
        Money.CancellationCharge(r.Plan.CostFen, r.Plan.StartsAt, now, limits.Value.FreeCancellationHours, limits.Value.CancellationChargeBasisPoints);

    /// <summary>
    /// Releases the reservation's cash hold: <paramref name="chargeFen"/> of it to the provider (a cancellation charge), the
    /// rest back to the company, with <paramref name="refundFen"/> the provider pays back for an outage, as one ledger
    /// transaction written with the company's row. Nothing for a reservation without a hold (or a repeat).
    /// </summary>
    private async Task ReleaseCashAsync(ReservationRecord r, long chargeFen, long refundFen, string kind)
    {
        if (await cash.HeldForAsync(Id) is not { } held)
        {
            return;
        }
        var plan = r.Plan;
        chargeFen = Math.Min(chargeFen, held);
        var posting = new LedgerPosting($"{kind}:{Id}", kind, $"Reservation {Id}: cash released, {chargeFen} fen charged, {refundFen} fen refunded by the provider",
            [(Accounts.ProviderReceivable(plan.ProviderId), chargeFen - refundFen)], ReservationId: Id);
        await cash.CloseHoldAsync(Id, plan.TenantId, held, chargeFen, refundFen, captured: false, posting, clock.GetUtcNow());
    }

    /// <summary>What the provider pays back of the hours its outage left undelivered (rule 8's market terms).</summary>
    private long OutageRefund(ReservationRecord r, int deliveredHours) => Money.MostCancellationCharge(
        Money.Cost(r.Plan.FenPerGpuHour, r.Plan.Gpus, r.Plan.Hours - deliveredHours), limits.Value.CancellationChargeBasisPoints);

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
        var kept = (int)Math.Clamp(Hours.Floor(from) - r.Plan.StartHour, 0, r.Plan.Hours);
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
            await ReleaseCashAsync(r, 0, OutageRefund(r, 0), "interrupt");
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
        var r = Current!;
        var plan = r.Plan;
        var pool = Pool(r);
        // Without a voucher no step stands between holding and confirming: the pool does both in one write.
        var hold = await pool.Hold(new HoldRequest(Id, plan.StartHour, plan.Hours, plan.Gpus, plan.FenPerGpuHour, options.Value.HoldTtl,
            ConfirmAtOnce: plan.VoucherId is null));
        if (!hold.Accepted)
        {
            // A saga resumed after a crash may have held funds before its capacity hold lapsed: undo every step.
            await ReleaseFundsAsync(r);
            await FailAsync(hold.RefusalCode!, hold.Reason!, capacityRefused: true);
            return;
        }
        faults.After(SagaFaults.HoldCapacity, Id);

        FundingResult funding = FundingResult.Held(0, string.Empty);
        if (plan.VoucherId is { } voucherId)
        {
            try
            {
                funding = await GrainFactory.GetGrain<IVoucherGrain>(voucherId).HoldFunds(
                    new FundingRequest(Id, plan.TenantId, plan.ProviderId, plan.ProviderCreditCode, plan.StartsAt, plan.EndsAt, plan.CostFen));
            }
            catch (DomainException e) when (e.Kind is ErrorKind.Rule or ErrorKind.Conflict or ErrorKind.NotFound)
            {
                funding = FundingResult.Refused(e.Code, e.Message);
            }
            if (!funding.Accepted)
            {
                await pool.Release(Id, null);
                await FailAsync(funding.RefusalCode!, funding.RefusalReason!, capacityRefused: false);
                return;
            }
            faults.After(SagaFaults.HoldFunds, Id);
        }

        var confirmed = plan.VoucherId is null ? HoldOutcome.Ok : await pool.Confirm(Id);
        if (!confirmed.Accepted)
        {
            await ReleaseFundsAsync(r);
            await pool.Release(Id, null);
            await FailAsync(confirmed.RefusalCode!, confirmed.Reason!, capacityRefused: true);
            return;
        }
        faults.After(SagaFaults.Confirm, Id);
        await SaveAsync(r with
        {
            State = ReservationState.Confirmed,
            VoucherFen = funding.AmountFen,
            CashFen = plan.CostFen - funding.AmountFen,
            VoucherProgramId = plan.VoucherId is null ? null : funding.ProgramId,
        });
    }

    private Task FailAsync(string code, string reason, bool capacityRefused)
    {
        logger.LogInformation("Reservation {ReservationId} failed: {Code}", Id, code);
        return SaveAsync(Current! with
        {
            State = ReservationState.Failed,
            ReasonCode = code,
            Reason = reason,
            CapacityRefused = capacityRefused,
            ReleasedFromHour = Current!.Plan.StartHour,
            VoucherFen = 0,
            CashFen = 0,
        });
    }

    /// <summary>
    /// Rule 7: the voucher pays its share of the hours used (captured from its hold, the rest released), the tenant
    /// pays the rest from its cash hold and the provider is owed the whole cost, as one balanced ledger transaction.
    /// </summary>
    private async Task SettleAsync(int usedHours, ReservationState finalState)
    {
        var r = Current!;
        var plan = r.Plan;
        var cost = Money.Cost(plan.FenPerGpuHour, plan.Gpus, usedHours);
        var voucherShare = Money.Prorate(r.VoucherFen, usedHours, plan.Hours);
        long captured = 0;
        if (plan.VoucherId is { } voucherId && r.VoucherFen > 0)
        {
            captured = await GrainFactory.GetGrain<IVoucherGrain>(voucherId).Capture(Id, voucherShare);
        }
        var cashShare = cost - captured;
        var now = clock.GetUtcNow();
        // Rule 8: the cash share of the hours used is captured from the cash hold, the rest released to the company, and for
        // an outage the provider pays back its share of the hours it did not deliver. A reservation filled before cash was
        // prepaid has no hold: the tenant owes its cash share.
        var held = await cash.HeldForAsync(Id);
        var fromHold = Math.Min(cashShare, held ?? 0);
        var refund = held is not null && finalState == ReservationState.Interrupted ? OutageRefund(r, usedHours) : 0;
        var entries = new List<(string, long)> { (Accounts.ProviderReceivable(plan.ProviderId), cost - refund) }; // the hold's own: CloseHoldAsync
        if (captured > 0)
        {
            entries.Add((Accounts.ProgramPayable(r.VoucherProgramId!), -captured));
        }
        if (cashShare > fromHold)
        {
            entries.Add((Accounts.TenantPayable(plan.TenantId), fromHold - cashShare));
        }
        var posting = new LedgerPosting($"settle:{Id}", "settle",
            $"Reservation {Id}: {usedHours} h of {plan.Gpus} {plan.GpuModel} at {plan.FenPerGpuHour} fen", entries,
            captured > 0 ? r.VoucherProgramId : null, plan.VoucherId, Id);
        if (held is { } amount)
        {
            await cash.CloseHoldAsync(Id, plan.TenantId, amount, fromHold, refund, captured: true, posting, now);
        }
        else if (cost > 0)
        {
            await LedgerWriter.PostOnceAsync(db, writer, posting, now);
        }
        if (cost > 0)
        {
            await Pool(r).RecordEarnings(Id, cost);
        }
        await SaveAsync(r with { State = finalState, Settlement = new Settlement(usedHours, cost, captured, cashShare, now) });
    }

    private async Task ReleaseFundsAsync(ReservationRecord r)
    {
        if (r.Plan.VoucherId is { } voucherId)
        {
            await GrainFactory.GetGrain<IVoucherGrain>(voucherId).Release(Id);
        }
    }

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
