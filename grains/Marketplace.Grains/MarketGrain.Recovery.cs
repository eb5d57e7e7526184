using Microsoft.Extensions.Logging;

namespace Marketplace.Grains;

public sealed partial class MarketGrain
{
    /// <summary>
    /// Rule 6: takes the capacity out, interrupts the reservations it hits (they settle the hours used and release the
    /// rest, the voucher's share of the lost hours included) and re-matches what is left of each elsewhere when it can.
    /// The tenant sees why on the bid and reservation.
    /// </summary>
    public async Task<OutageReport> DeclareOutage(string poolId, Outage outage)
    {
        var effect = await Pool(poolId).AddOutage(outage);
        await RefreshPoolAsync(poolId);
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
            await _writes.ChangeStoredBidAsync(view.Plan.BidId, b => b.WithInterruptedFill(reservationId, usedPart, replacement, code, reason));
        }
        await RefreshPoolAsync(poolId);
        return new OutageReport(outage.OutageId, [poolId], interrupted, rematched);
    }

    /// <summary>Matches the hours an outage took from a reservation elsewhere, within a day of where they were lost.</summary>
    private async Task<(Fill? Fill, MatchEnd.Unmatched? Why)> RematchRemainderAsync(ReservationView interrupted, string failedPoolId)
    {
        var bid = await Bid(interrupted.Plan.BidId).Get();
        var remaining = interrupted.Plan.Hours - interrupted.KeptHours;
        if (bid is null || remaining <= 0)
        {
            return (null, null);
        }
        var firstBookable = Hours.FirstBookable(_clock.GetUtcNow());
        var earliest = Math.Max(firstBookable, interrupted.Plan.StartHour + interrupted.KeptHours);
        var order = bid.Order with
        {
            DurationHours = remaining,
            EarliestStart = Hours.ToTime(earliest),
            LatestStart = Hours.ToTime(earliest + 24),
        };
        var sequence = (await _reservationStore.IdsForBidAsync(bid.Id)).Count + 1;
        var open = new OpenOrder(bid.Id, bid.TenantId, order, sequence);
        open.Excluded.Add(failedPoolId);
        return await MatchAsync(open) switch
        {
            MatchEnd.Filled filled => (MarketWriter.FillOf(filled.Reservation), null),
            MatchEnd.Refused refused => (null, new MatchEnd.Unmatched(refused.Code, refused.Reason, Funding: true)),
            MatchEnd.Unmatched unmatched => (null, unmatched),
            _ => (null, null),
        };
    }

    /// <summary>
    /// Completes a bid whose matching a crash or failure cut short: resumes its reservations (each ends confirmed or
    /// compensated), records a confirmed one as its fill, and otherwise matches it again.
    /// </summary>
    private async Task RecoverAsync(string bidId)
    {
        if (_busyBids.Contains(bidId))
        {
            return;
        }
        _busyBids.Add(bidId);
        try
        {
            var stored = await _bidStore.LoadAsync(bidId);
            var bid = stored?.State.ToView(bidId, stored.Version);
            var reservationIds = await _reservationStore.IdsForBidAsync(bidId);
            if (bid is null || bid.IsFinal)
            {
                _toRecover.Remove(bidId);
                return;
            }
            foreach (var id in reservationIds)
            {
                var view = await Reservation(id).Advance();
                if (view is { State: ReservationState.Confirmed or ReservationState.Active or ReservationState.Completed })
                {
                    await RefreshPoolAsync(view.Plan.PoolId);
                    await RecordFillAsync(bidId, view);
                    _toRecover.Remove(bidId);
                    return;
                }
            }
            _toRecover.Remove(bidId);
            var order = new OpenOrder(bidId, bid.TenantId, bid.Order, reservationIds.Count + 1) { Record = stored!.State, BidVersion = stored.Version };
            if (bid.State == BidState.Resting)
            {
                await _resting.AddAsync(order);
                RematchSoon();
            }
            else
            {
                await MatchNewAsync(order);
            }
        }
        catch (Exception e) when (IsTransient(e))
        {
            _logger.LogWarning(e, "Recovering bid {BidId} failed; will try again", bidId);
        }
        finally
        {
            _busyBids.Remove(bidId);
        }
    }

    /// <summary>
    /// Before a bid is cancelled: resumes every reservation of it a crash may have left (each ends confirmed or
    /// compensated) and cancels the confirmed ones, so no reservation outlives its cancelled bid. One that has already
    /// started is the bid's fill: it is recorded and the bid can no longer be cancelled.
    /// </summary>
    private async Task<IReadOnlyList<string>> CancelReservationsOfAsync(string bidId)
    {
        var cancelled = new List<string>();
        foreach (var id in await _reservationStore.IdsForBidAsync(bidId))
        {
            var view = await Reservation(id).Advance();
            switch (view?.State)
            {
                case ReservationState.Confirmed when _clock.GetUtcNow() < view.Plan.StartsAt:
                    await Reservation(id).Cancel("bid-cancelled", "its bid was cancelled by the tenant");
                    await RefreshPoolAsync(view.Plan.PoolId);
                    cancelled.Add(id);
                    break;
                case ReservationState.Confirmed or ReservationState.Active or ReservationState.Completed or ReservationState.Interrupted:
                    _resting.Remove(bidId);
                    _toRecover.Remove(bidId);
                    await RecordFillAsync(bidId, view);
                    throw DomainException.Rule("bid-not-open", $"the bid was filled by reservation {id}, which has started; it can no longer be cancelled");
            }
        }
        return cancelled;
    }
}
