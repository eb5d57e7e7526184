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
        return CancelRefusal(r, now) is { } refusal
            ? new CancellationQuote(Id, false, refusal.Code, refusal.Message, 0, 0, now)
            : new CancellationQuote(Id, true, null, null, r.VoucherFen, r.CashFen, now);
    }

    /// <summary>
    /// Why the reservation cannot be cancelled now, or null when it can: only a confirmed reservation that has not
    /// started. Cancel applies this rule and QuoteCancellation answers it. A cancellation releases the voucher's whole
    /// hold (VoucherFen) and the tenant owes none of its cash share (CashFen is paid only at settlement).
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
    /// owes the rest in cash and the provider is owed the whole cost, as one balanced ledger transaction.
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
        var cash = cost - captured;
        var now = clock.GetUtcNow();
        if (cost > 0)
        {
            var entries = new List<(string, long)> { (Accounts.ProviderReceivable(plan.ProviderId), cost) };
            if (captured > 0)
            {
                entries.Add((Accounts.ProgramPayable(r.VoucherProgramId!), -captured));
            }
            if (cash > 0)
            {
                entries.Add((Accounts.TenantPayable(plan.TenantId), -cash));
            }
            await LedgerWriter.PostOnceAsync(db, writer, new LedgerPosting($"settle:{Id}", "settle",
                $"Reservation {Id}: {usedHours} h of {plan.Gpus} {plan.GpuModel} at {plan.FenPerGpuHour} fen", entries,
                captured > 0 ? r.VoucherProgramId : null, plan.VoucherId, Id), now);
            await Pool(r).RecordEarnings(Id, cost);
        }
        await SaveAsync(r with { State = finalState, Settlement = new Settlement(usedHours, cost, captured, cash, now) });
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
