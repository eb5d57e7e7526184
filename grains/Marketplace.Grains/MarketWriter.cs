using Marketplace.Matching;
using Marketplace.Storage;
using Microsoft.Extensions.Logging;

namespace Marketplace.Grains;

/// <summary>
/// The market's writes and nothing else. Each fill is one statement (<see cref="MarketStore.Fill"/>) and each state a bid
/// is left in without a fill another; both name the epoch this activation took, commit with the statements queued beside
/// them, and are published only once durable. A write that matched nothing is told apart (cash, the cap, a newer
/// activation, the bid, the voucher or the pool changed), so the market's one outcome policy can say what follows.
/// </summary>
internal sealed class MarketWriter(string model, MarketStore marketStore, BidStore bidStore, VoucherStore voucherStore, CommitBatcher writer,
    SagaFaults faults, MarketLimits limits, TimeProvider clock, IGrainFactory grains, ILogger logger, Action deactivate)
{
    /// <summary>The last fill being written on each voucher: the next one on it waits for it (it never fails: see FillAsync).</summary>
    private readonly Dictionary<string, Task> _voucherWrites = new(StringComparer.Ordinal);

    /// <summary>The epoch this activation took: its writes name it, and match nothing once a newer activation took one.</summary>
    public long Epoch { get; private set; }

    /// <summary>A newer activation took the epoch: this one writes nothing more and answers every call unavailable.</summary>
    public bool IsFenced { get; private set; }

    /// <summary>
    /// First of all on activation: from here on an older activation's fills match nothing, and those it has in flight
    /// commit before anything the market reads after this.
    /// </summary>
    public async Task TakeEpochAsync(CancellationToken cancellationToken) => Epoch = await marketStore.TakeEpochAsync(model, cancellationToken);

    /// <summary>A write found a newer epoch: this activation is a stale duplicate and stops.</summary>
    public DomainException Fenced()
    {
        IsFenced = true;
        logger.LogWarning("Market {Model} epoch {Epoch} was taken over by a newer activation; this one stops writing", model, Epoch);
        deactivate();
        return Moved();
    }

    /// <summary>What a call to a market that a newer activation took over is answered.</summary>
    public static DomainException Moved() => new(ErrorKind.Unavailable, "market-moved", "the market moved to another activation; retry");

    /// <summary>Refuses work once a newer activation of this market has taken over.</summary>
    public void RequireCurrent()
    {
        if (IsFenced)
        {
            throw Moved();
        }
    }

    /// <summary>
    /// The fill as one statement (<see cref="MarketStore.Fill"/>): the voucher's share is worked out from the voucher as
    /// stored now (its version guards it), the bid is written in its final state with the fill, and all of it commits
    /// with the fills queued beside it. Only then is anything answered or pushed.
    /// </summary>
    /// <param name="poolTerms">The pool's terms version the plan was decided on: the fill matches nothing if they changed.</param>
    /// <param name="currentTerms">The voucher's terms as of now (read again if a notice made them stale since the decision).</param>
    public async Task<FillAttempt> FillAsync(OpenOrder order, ReservationPlan plan, long poolTerms, Func<OpenOrder, Task<FundingTerms?>> currentTerms)
    {
        if (plan.VoucherId is not { } voucherId)
        {
            return await FillOnceAsync(order, plan, poolTerms, currentTerms);
        }
        // Fills on one voucher are written one after another: each reads the balance the one before it left, rather than
        // all reading the same version and all but one being refused.
        var before = _voucherWrites.GetValueOrDefault(voucherId) ?? Task.CompletedTask;
        var mine = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _voucherWrites[voucherId] = mine.Task;
        try
        {
            await before;
            return await FillOnceAsync(order, plan, poolTerms, currentTerms);
        }
        finally
        {
            mine.SetResult();
            if (_voucherWrites.TryGetValue(voucherId, out var last) && last == mine.Task)
            {
                _voucherWrites.Remove(voucherId);
            }
        }
    }

    /// <summary>The refusal of a fill whose voucher another writer moved meanwhile: not the bid's attempt (see the matching loop).</summary>
    public const string VoucherChanged = "voucher-changed";

    private async Task<FillAttempt> FillOnceAsync(OpenOrder order, ReservationPlan plan, long poolTerms, Func<OpenOrder, Task<FundingTerms?>> currentTerms)
    {
        VoucherRow? voucher = null;
        HoldRow? hold = null;
        if (plan.VoucherId is { } voucherId)
        {
            // The voucher's terms as of now (a notice published since the decision applies to this fill too).
            if ((await currentTerms(order))?.RefusalFor(plan.ProviderCreditCode, plan.StartsAt, plan.EndsAt) is var (termsCode, termsReason))
            {
                return FillAttempt.Refused(AttemptOutcome.FundingRefused, termsCode, termsReason);
            }
            voucher = await voucherStore.LoadRowAsync(voucherId);
            var refusal = voucher is null || voucher.TenantId != plan.TenantId
                ? ("voucher-not-found", "the tenant holds no such voucher")
                : FundingTerms.StateRefusal(voucher.State);
            var (amount, code, reason) = refusal is var (refusedCode, refusedWhy)
                ? (0, refusedCode, refusedWhy)
                : FundingRules.Share(plan.CostFen, 0, stackingAllowed: true, voucher!.CoverageBasisPoints, voucher.AvailableFen);
            if (code is not null)
            {
                return FillAttempt.Refused(AttemptOutcome.FundingRefused, code, reason!);
            }
            hold = new HoldRow(plan.ReservationId, HoldState.Held, plan.CostFen, amount, 0, plan.ProviderId, voucher!.Stackable);
        }
        var now = clock.GetUtcNow();
        var voucherFen = hold?.AmountFen ?? 0;
        var reservation = new ReservationRecord(plan, ReservationState.Confirmed, voucherFen, plan.CostFen - voucherFen,
            voucher?.ProgramId, null, null, false, plan.StartHour + plan.Hours, null, now, now);
        var reservationView = reservation.ToView(plan.ReservationId, 1);
        var bid = order.Record is { } record
            ? record with { State = BidState.Filled, Fills = [.. record.Fills, FillOf(reservationView)], ReasonCode = null, Reason = null, UpdatedAt = now }
            : null;
        var cashHold = Money.CashHold(plan.CostFen, voucherFen, limits.CancellationChargeBasisPoints);
        var write = new FillWrite(model, Epoch, order.BidId, bid, order.BidVersion, reservation, poolTerms, voucher, hold, cashHold,
            limits.MaxUnsettledFenPerTenant);
        faults.After(SagaFaults.FillDecided, plan.ReservationId);
        if (await writer.ExecuteAsync(marketStore.Fill(write, now)) != 1)
        {
            switch (await marketStore.WhyRefusedAsync(model, Epoch, order.BidId, bid is null ? null : order.BidVersion, plan.PoolId, poolTerms, voucher,
                plan.TenantId, cashHold, plan.CostFen, limits.MaxUnsettledFenPerTenant))
            {
                case WriteRefusal.InsufficientCash:
                    return FillAttempt.Refused(AttemptOutcome.FundingRefused, CashRules.InsufficientCash,
                        $"the company has less prepaid cash available than the {cashHold} fen this rental holds");
                case WriteRefusal.UnsettledCapReached:
                    return FillAttempt.Refused(AttemptOutcome.FundingRefused, CashRules.UnsettledCapReached,
                        $"this rental's {plan.CostFen} fen would take the company's unsettled reservations past {limits.MaxUnsettledFenPerTenant} fen; "
                        + "wait for some to be settled or cancel some");
                case WriteRefusal.Fenced:
                    throw Fenced();
                case WriteRefusal.BidChanged when order.BidVersion == 0:
                    throw new BidAlreadyWrittenException(order.BidId);
                case WriteRefusal.BidChanged:
                    throw BidChanged();
                case WriteRefusal.VoucherChanged:
                    return FillAttempt.Refused(AttemptOutcome.CapacityRefused, VoucherChanged, "the voucher changed while the bid was being matched");
                default:
                    return FillAttempt.Refused(AttemptOutcome.CapacityRefused, "pool-changed", "the pool changed what it sells while the bid was being matched");
            }
        }
        faults.After(SagaFaults.FillCommitted, plan.ReservationId);

        // Durable: now it can be shown.
        grains.Publish(new MarketUpdate(UpdateKind.Reservation, plan.TenantId, plan.ReservationId, 1, now, Reservation: reservationView));
        BidView? bidView = null;
        if (bid is not null)
        {
            order.Record = bid;
            order.BidVersion++;
            bidView = bid.ToView(order.BidId, order.BidVersion);
            grains.Publish(new MarketUpdate(UpdateKind.Bid, plan.TenantId, order.BidId, bidView.Version, now, Bid: bidView));
        }
        if (voucher is not null)
        {
            var held = (voucher with { HeldFen = checked(voucher.HeldFen + voucherFen), Version = voucher.Version + 1 }).ToView();
            grains.Publish(new MarketUpdate(UpdateKind.Voucher, held.TenantId, held.Id, held.Version, now, Voucher: held));
        }
        grains.GetGrain<IGpuPoolGrain>(plan.PoolId).Booked().Ignore();
        return new FillAttempt(AttemptOutcome.Filled, reservationView, bidView, null, null);
    }

    /// <summary>
    /// Writes the state a bid the market holds is left in without a fill (resting, rejected, expired); a new bid's first
    /// write.
    /// </summary>
    public async Task<BidView> WriteBidAsync(OpenOrder order, BidState state, string? code, string? reason)
    {
        var view = await WriteBidRowAsync(order.BidId, order.Record!, order.BidVersion, order.Record!.Ended(state, code, reason));
        order.Record = order.Record with { State = view.State, ReasonCode = view.ReasonCode, Reason = view.Reason, UpdatedAt = view.UpdatedAt };
        order.BidVersion = view.Version;
        return view;
    }

    /// <summary>Changes a bid the market does not hold in memory (cancel, expiry, an interrupted fill), as stored now.</summary>
    public async Task<BidView> ChangeStoredBidAsync(string bidId, Func<BidRecord, BidRecord> change)
    {
        var stored = await bidStore.LoadAsync(bidId) ?? throw DomainException.NotFound("bid", bidId);
        return await WriteBidRowAsync(bidId, stored.State, stored.Version, change(stored.State));
    }

    /// <summary>
    /// Every bid the market changes is written here or with its fill, fenced by the market's epoch and guarded by the
    /// version it read, so within an epoch the market is the bid's only writer. The bid grain reads it from the row.
    /// </summary>
    private async Task<BidView> WriteBidRowAsync(string bidId, BidRecord current, long version, BidRecord next)
    {
        if (ReferenceEquals(next, current) && version > 0)
        {
            return current.ToView(bidId, version); // a repeat of a change already made
        }
        var now = clock.GetUtcNow();
        next = next with { UpdatedAt = now };
        if (await writer.ExecuteAsync(marketStore.Bid(model, Epoch, bidId, next, version)) != 1)
        {
            throw await marketStore.WhyRefusedAsync(model, Epoch, bidId, version) switch
            {
                WriteRefusal.Fenced => Fenced(),
                _ when version == 0 => new BidAlreadyWrittenException(bidId),
                _ => BidChanged(),
            };
        }
        var view = next.ToView(bidId, version + 1);
        grains.Publish(new MarketUpdate(UpdateKind.Bid, next.TenantId, bidId, view.Version, now, Bid: view));
        if (next.State != current.State && next.State is not (BidState.Pending or BidState.Resting or BidState.Filled))
        {
            MarketMetrics.BidsEnded.Add(1, new KeyValuePair<string, object?>("state", next.State.ToString()), new KeyValuePair<string, object?>("reason", next.ReasonCode));
            using (logger.BeginScope(new KeyValuePair<string, object>[] { new("Bid", bidId) }))
            {
                logger.LogInformation("Bid {BidId} {State}: {Code}", bidId, next.State, next.ReasonCode);
            }
        }
        return view;
    }

    /// <summary>The bid is not as the market read it: it is recovered from what is stored (a passing fault, not the caller's).</summary>
    public static DomainException BidChanged() =>
        new(ErrorKind.Unavailable, "bid-changed", "the bid changed while it was being matched; it is read again");

    /// <summary>A bid's fill as the reservation now stands (what was kept of it, and its cost).</summary>
    public static Fill FillOf(ReservationView r)
    {
        var kept = r.KeptHours;
        var cost = Money.Cost(r.Plan.FenPerGpuHour, r.Plan.Gpus, kept);
        var voucher = Money.Prorate(r.VoucherFen, kept, r.Plan.Hours);
        return new Fill(r.Id, r.Plan.PoolId, r.Plan.ProviderId, r.Plan.Province, r.Plan.SiteId, r.Plan.StartsAt, r.EndsAt, r.Plan.Gpus,
            r.Plan.FenPerGpuHour, cost, voucher, cost - voucher, r.Plan.ProviderReliabilityBasisPoints);
    }
}
