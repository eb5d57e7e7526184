using Marketplace.Storage;
using Microsoft.Extensions.Logging;

namespace Marketplace.Grains;

/// <summary>
/// What a market does about bids whose matching did not end as planned: bids a crash cut short (found on activation or
/// after a fault), a bid cancelled while its reservation may have confirmed, and reservations an outage interrupted
/// (rule 6). Each ends as the database says it got, and nothing is sold twice.
/// </summary>
internal sealed class MarketRecovery(string model, MarketMatcher matcher, RestingOrders resting, MarketWriter writes, BidStore bidStore,
    ReservationStore reservationStore, TimeProvider clock, IGrainFactory grains, ILogger logger)
{
    /// <summary>
    /// On activation: resting bids go back in the book; a bid a crash left part way (pending, or resting with a live
    /// reservation) is recovered by the next sweep.
    /// </summary>
    public async Task LoadOpenBidsAsync(CancellationToken cancellationToken)
    {
        var open = await bidStore.OpenBidsAsync(model, cancellationToken);
        var openIds = open.Select(b => b.Id).ToList();
        var interrupted = await reservationStore.BidsWithLiveReservationsAsync(openIds, cancellationToken);
        var attempts = await reservationStore.CountsForBidsAsync(openIds, cancellationToken);
        await resting.LearnProvincesAsync(open.Select(b => b.Bid.TenantId));
        foreach (var (id, bid, version) in open)
        {
            if (bid.State == BidState.Resting && !interrupted.Contains(id))
            {
                await resting.AddAsync(new OpenOrder(id, bid.TenantId, bid.Order, attempts.GetValueOrDefault(id) + 1) { Record = bid, BidVersion = version });
            }
            else
            {
                matcher.ToRecover.Add(id); // a crash cut its matching short: find out how far it got before matching again
            }
        }
    }

    /// <summary>Recovers every bid waiting for it.</summary>
    public async Task RecoverAllAsync()
    {
        foreach (var bidId in matcher.ToRecover.ToList())
        {
            await RecoverAsync(bidId);
        }
    }

    /// <summary>
    /// Completes a bid whose matching a crash or failure cut short: resumes its reservations (each ends confirmed or
    /// compensated), records a confirmed one as its fill, and otherwise matches it again.
    /// </summary>
    private async Task RecoverAsync(string bidId)
    {
        if (!matcher.Busy.Add(bidId))
        {
            return;
        }
        try
        {
            var stored = await bidStore.LoadAsync(bidId);
            var bid = stored?.State.ToView(bidId, stored.Version);
            var reservationIds = await reservationStore.IdsForBidAsync(bidId);
            if (bid is null || bid.IsFinal)
            {
                matcher.ToRecover.Remove(bidId);
                return;
            }
            foreach (var id in reservationIds)
            {
                var view = await Reservation(id).Advance();
                if (view is { State: ReservationState.Confirmed or ReservationState.Active or ReservationState.Completed })
                {
                    await matcher.RefreshPoolAsync(view.Plan.PoolId);
                    await matcher.RecordFillAsync(bidId, view);
                    matcher.ToRecover.Remove(bidId);
                    return;
                }
            }
            matcher.ToRecover.Remove(bidId);
            var order = new OpenOrder(bidId, bid.TenantId, bid.Order, reservationIds.Count + 1) { Record = stored!.State, BidVersion = stored.Version };
            if (bid.State == BidState.Resting)
            {
                await resting.AddAsync(order);
                matcher.RematchSoon();
            }
            else
            {
                await matcher.MatchNewAsync(order);
            }
        }
        catch (Exception e) when (MarketMatcher.IsTransient(e))
        {
            logger.LogWarning(e, "Recovering bid {BidId} failed; will try again", bidId);
        }
        finally
        {
            matcher.Busy.Remove(bidId);
        }
    }

    /// <summary>
    /// Rule 6 for a bid: cancels it, and with it every reservation of it a crash may have left (each resumed until it ends
    /// confirmed or compensated), so no reservation outlives its cancelled bid. One that has already started is the bid's
    /// fill: it is recorded and the bid can no longer be cancelled.
    /// </summary>
    public async Task<BidView> CancelBidAsync(string bidId, string tenantId)
    {
        if (matcher.Busy.Contains(bidId))
        {
            throw BeingMatched();
        }
        var bid = await grains.GetGrain<IBidGrain>(bidId).Get();
        if (bid is null || bid.TenantId != tenantId)
        {
            throw DomainException.NotFound("bid", bidId);
        }
        if (bid.State == BidState.Cancelled)
        {
            return bid;
        }
        if (bid.State is not (BidState.Resting or BidState.Pending))
        {
            throw DomainException.Rule("bid-not-open", $"the bid is already {bid.State}; cancel its reservation instead");
        }
        if (!matcher.Busy.Add(bidId))
        {
            throw BeingMatched();
        }
        try
        {
            var cancelled = await CancelReservationsOfAsync(bidId);
            resting.Remove(bidId);
            matcher.ToRecover.Remove(bidId);
            var reason = cancelled.Count == 0 ? "cancelled by the tenant"
                : $"cancelled by the tenant; reservation {string.Join(", ", cancelled)}, confirmed while the bid was being recovered, was cancelled with it";
            return await writes.ChangeStoredBidAsync(bidId, b => b.Ended(BidState.Cancelled, "cancelled", reason));
        }
        finally
        {
            matcher.Busy.Remove(bidId);
        }
    }

    public static DomainException BeingMatched() =>
        DomainException.Conflict("bid-being-matched", "the bid is being matched right now; try again in a moment");

    private async Task<IReadOnlyList<string>> CancelReservationsOfAsync(string bidId)
    {
        var cancelled = new List<string>();
        foreach (var id in await reservationStore.IdsForBidAsync(bidId))
        {
            var view = await Reservation(id).Advance();
            switch (view?.State)
            {
                case ReservationState.Confirmed when clock.GetUtcNow() < view.Plan.StartsAt:
                    await Reservation(id).Cancel("bid-cancelled", "its bid was cancelled by the tenant");
                    await matcher.RefreshPoolAsync(view.Plan.PoolId);
                    cancelled.Add(id);
                    break;
                case ReservationState.Confirmed or ReservationState.Active or ReservationState.Completed or ReservationState.Interrupted:
                    resting.Remove(bidId);
                    matcher.ToRecover.Remove(bidId);
                    await matcher.RecordFillAsync(bidId, view);
                    throw DomainException.Rule("bid-not-open", $"the bid was filled by reservation {id}, which has started; it can no longer be cancelled");
            }
        }
        return cancelled;
    }

    /// <summary>
    /// Rule 6 for an outage: interrupts the reservations it hits (they settle the hours used and release the rest, the
    /// voucher's share of the lost hours included) and re-matches what is left of each elsewhere when it can. The tenant
    /// sees why on the bid and reservation.
    /// </summary>
    public async Task<OutageReport> InterruptAsync(string poolId, Outage outage, OutageEffect effect)
    {
        var interrupted = new List<string>();
        var rematched = new List<string>();
        foreach (var reservationId in effect.AffectedReservationIds)
        {
            var before = await Reservation(reservationId).Get();
            if (before is null || before.State is not (ReservationState.Confirmed or ReservationState.Active))
            {
                continue;
            }
            var view = await Reservation(reservationId).Interrupt(outage.From, outage.Reason);
            interrupted.Add(reservationId);
            var (replacement, refusal) = await RematchRemainderAsync(view, poolId);
            if (replacement is not null)
            {
                rematched.Add(replacement.ReservationId);
            }
            var usedPart = view.KeptHours > 0 ? MarketWriter.FillOf(view) : null;
            var lost = $"an outage at pool {poolId} interrupted reservation {reservationId}";
            var (code, reason) = (replacement, refusal) switch
            {
                ({ } moved, _) => ("rematched-after-outage", $"{lost}; the remaining hours moved to pool {moved.PoolId}"),
                (null, { Funding: true } why) => ("outage-voucher-cannot-pay", $"{lost}; other pools have room but the voucher cannot pay them: {why.Reason}"),
                _ => ("outage-no-capacity", $"{lost}; no other pool could take the remaining hours"),
            };
            await writes.ChangeStoredBidAsync(view.Plan.BidId, b => b.WithInterruptedFill(reservationId, usedPart, replacement, code, reason));
        }
        return new OutageReport(outage.OutageId, [poolId], interrupted, rematched);
    }

    /// <summary>Matches the hours an outage took from a reservation elsewhere, within a day of where they were lost.</summary>
    private async Task<(Fill? Fill, MatchEnd.Unmatched? Why)> RematchRemainderAsync(ReservationView interrupted, string failedPoolId)
    {
        var bid = await grains.GetGrain<IBidGrain>(interrupted.Plan.BidId).Get();
        var remaining = interrupted.Plan.Hours - interrupted.KeptHours;
        if (bid is null || remaining <= 0)
        {
            return (null, null);
        }
        var firstBookable = Hours.FirstBookable(clock.GetUtcNow());
        var earliest = Math.Max(firstBookable, interrupted.Plan.StartHour + interrupted.KeptHours);
        var order = bid.Order with
        {
            DurationHours = remaining,
            EarliestStart = Hours.ToTime(earliest),
            LatestStart = Hours.ToTime(earliest + 24),
        };
        var sequence = (await reservationStore.IdsForBidAsync(bid.Id)).Count + 1;
        var open = new OpenOrder(bid.Id, bid.TenantId, order, sequence);
        open.Excluded.Add(failedPoolId);
        return await matcher.MatchAsync(open) switch
        {
            MatchEnd.Filled filled => (MarketWriter.FillOf(filled.Reservation), null),
            MatchEnd.Refused refused => (null, new MatchEnd.Unmatched(refused.Code, refused.Reason, Funding: true)),
            MatchEnd.Unmatched unmatched => (null, unmatched),
            _ => (null, null),
        };
    }

    private IReservationGrain Reservation(string id) => grains.GetGrain<IReservationGrain>(id);
}
