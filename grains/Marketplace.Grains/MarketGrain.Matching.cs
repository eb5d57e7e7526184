using Marketplace.Domain.Rules;
using Marketplace.Matching;
using Marketplace.Storage;
using Microsoft.Extensions.Logging;

namespace Marketplace.Grains;

public sealed partial class MarketGrain
{
    private MatchDecision Decide(OpenOrder order)
    {
        var firstBookable = Hours.FirstBookable(_clock.GetUtcNow());
        return MatchingEngine.Decide(order.Request, _view.Ladder, firstBookable, firstBookable + _limits.HorizonHours, order.Excluded,
            order.FundableStarts(_view), _routing);
    }

    /// <summary>Why nothing matched, in the words a tenant would want: for a voucher bid, why its voucher could pay no pool with room.</summary>
    private (string Code, string Reason) Describe(OpenOrder order, MatchDecision decision)
    {
        if (decision.Reason == NoMatchReason.NotFundable && order.Terms is { } terms && decision.UnfundablePool is { } pool)
        {
            var spec = _view.Spec(pool.PoolId);
            var start = decision.UnfundableStartHour;
            if (terms.RefusalFor(spec.ProviderCreditCode, Hours.ToTime(start), Hours.ToTime(start + order.Order.DurationHours)) is { } refusal)
            {
                return (refusal.Code, $"no pool with room can be paid by the voucher: {refusal.Reason}");
            }
        }
        return decision.Reason switch
        {
            NoMatchReason.NoPools => ("no-pools", "no pool of this GPU model is listed yet"),
            NoMatchReason.OutsideHorizon => ("outside-horizon", "no start in the requested window lies inside the booking horizon"),
            NoMatchReason.NoPoolInProvinces => ("no-pool-in-provinces", "no pool of this GPU model is listed in the allowed provinces"),
            NoMatchReason.GangTooLarge => ("gang-too-large", "no single pool has that many GPUs of this model"),
            NoMatchReason.PriceAboveLimit => ("price-above-limit", "capacity is free only at asks above the bid's limit"),
            NoMatchReason.NotFundable => ("voucher-cannot-pay", "no pool with room can be paid by the voucher"),
            NoMatchReason.BelowReliability => ("below-reliability",
                "pools with room at the bid's price belong to providers below its minimum reliability, or too new to have a score"),
            _ => ("no-capacity", "no pool has the GPUs free for the whole duration in the start window"),
        };
    }

    private ReservationPlan PlanFor(OpenOrder order, MatchDecision decision)
    {
        var spec = _view.Spec(decision.Pool!.PoolId);
        return new ReservationPlan(Ids.Reservation(order.BidId, order.NextReservation++), order.BidId, order.TenantId, spec.PoolId, spec.ProviderId,
            spec.ProviderCreditCode, Model, spec.Site.Province, spec.Site.SiteId, decision.StartHour, order.Order.DurationHours, order.Order.GpuCount,
            decision.FenPerGpuHour, order.Order.VoucherId, spec.ProviderName, spec.Site.Name, decision.Pool!.ReliabilityBasisPoints);
    }

    /// <summary>Reads what the bid's voucher can pay for, unless the market knows it already.</summary>
    private async Task<FundingTerms?> TermsAsync(OpenOrder order)
    {
        if (order.Order.VoucherId is { } voucherId && (order.Terms is null || order.TermsEpoch != _termsEpoch))
        {
            var epoch = _termsEpoch;
            order.Terms = await GrainFactory.GetGrain<IVoucherGrain>(voucherId).FundingTerms(order.TenantId);
            order.TermsEpoch = epoch;
        }
        return order.Terms;
    }

    /// <summary>Whether the market knows the voucher's terms as of now (a cash bid needs none).</summary>
    private bool TermsCurrent(OpenOrder order) => order.Order.VoucherId is null || (order.Terms is not null && order.TermsEpoch == _termsEpoch);

    /// <summary>Times in a row a bid's fill may find its voucher moved by someone else before that counts as an attempt.</summary>
    private const int MaxVoucherChanges = 5;

    /// <summary>
    /// Matching, the same for every bid: decide on a pool the voucher can pay, take its hours from the view, write the
    /// fill, and let <see cref="OutcomePolicy"/> say what follows. <paramref name="decided"/> is a plan
    /// the caller already decided and took (a resting bid, decided in priority order with the others of its pass).
    /// </summary>
    private async Task<MatchEnd> MatchAsync(OpenOrder order, ReservationPlan? decided = null)
    {
        (string Code, string Reason)? lastRefusal = null;
        var voucherChanges = 0;
        for (var attempt = 1; ; attempt++)
        {
            var plan = decided;
            decided = null;
            if (plan is null)
            {
                if (await TermsAsync(order) is { Usable: false } terms)
                {
                    return new MatchEnd.Refused(terms.RefusalCode!, terms.RefusalReason!);
                }
                var decision = Decide(order);
                if (!decision.Matched)
                {
                    var (code, reason) = lastRefusal ?? Describe(order, decision);
                    return new MatchEnd.Unmatched(code, reason, lastRefusal is not null || decision.Reason == NoMatchReason.NotFundable);
                }
                plan = PlanFor(order, decision);
                _view.Take(plan);
            }
            var outcome = await CommitFillAsync(order, plan);
            var refusal = (Code: outcome.Code!, Reason: outcome.Reason!);
            var kind = outcome.Kind;
            if (refusal.Code == MarketWriter.VoucherChanged && ++voucherChanges <= MaxVoucherChanges)
            {
                attempt--; // another market or the voucher itself moved its balance meanwhile: not this bid's attempt
                continue;
            }
            switch (OutcomePolicy.After(kind, refusal.Code, attempt))
            {
                case NextStep.Record:
                    return new MatchEnd.Filled(outcome.Reservation!, outcome.Bid);
                case NextStep.Reject:
                    return new MatchEnd.Refused(refusal.Code, refusal.Reason);
                case NextStep.RefreshAndRetry:
                    await RefreshPoolAsync(plan.PoolId);
                    break;
                case NextStep.ExcludeAndRetry:
                    order.Excluded.Add(plan.PoolId);
                    order.Terms = null; // the voucher refused what its terms allowed: read them again
                    lastRefusal = refusal;
                    break;
                default:
                    var last = lastRefusal ?? (kind == AttemptOutcome.CapacityRefused ? ("no-capacity", "capacity kept changing; no pool confirmed") : refusal);
                    return new MatchEnd.Unmatched(last.Item1, last.Item2, kind == AttemptOutcome.FundingRefused || lastRefusal is not null);
            }
        }
    }

    /// <summary>
    /// Writes the fill; gives the hours back to the view if it was refused. If the write's fate is unknown (the database
    /// failed mid-commit) the hours stay out of the view until the pool is read again.
    /// </summary>
    private async Task<FillAttempt> CommitFillAsync(OpenOrder order, ReservationPlan plan)
    {
        var started = _timer.GetTimestamp();
        FillAttempt attempt;
        try
        {
            // The pool's terms as when the plan was decided: a read since may have brought newer ones.
            attempt = await _writes.FillAsync(order, plan, _view.TermsOf(plan), TermsAsync);
        }
        catch
        {
            _view.Finished(plan, written: true);
            _unsure[plan.PoolId] = _view.BeginRead(); // a read that begins after this shows whether it was written
            throw;
        }
        _view.Finished(plan, attempt.Kind == AttemptOutcome.Filled);
        MarketMetrics.SagaDuration.Record(_timer.GetElapsedTime(started).TotalMilliseconds);
        if (attempt.Kind != AttemptOutcome.Filled)
        {
            MarketMetrics.SagasFailed.Add(1, new KeyValuePair<string, object?>("reason", attempt.Code));
            RematchSoon();
        }
        else
        {
            var r = attempt.Reservation!;
            GrainFactory.GetGrain<IUtilizationGrain>(0).ReportFill(new FillTick(r.Id, Model, r.Plan.Province, r.Plan.SiteId, r.Plan.Gpus,
                r.Plan.Hours, r.Plan.FenPerGpuHour, r.VoucherFen, r.UpdatedAt)).Ignore();
        }
        return attempt;
    }



    /// <summary>A fault that is not the bid's: a silo or the database failed on the way, and asking again may succeed.</summary>
    private static bool IsTransient(Exception e) =>
        e is not (DomainException or BidAlreadyWrittenException) || e is DomainException { Kind: ErrorKind.Unavailable };

    /// <summary>Matches a bid just accepted (or one recovered after a crash).</summary>
    private async Task<BidView> MatchNewAsync(OpenOrder order)
    {
        _busyBids.Add(order.BidId);
        try
        {
            // Inside the try: a pool that cannot answer now interrupts matching like any other step, and the bid is recovered.
            await RefreshLapsedHoldsAsync();
            return await MatchAsync(order) switch
            {
                MatchEnd.Filled filled => filled.Bid ?? await RecordFillAsync(order.BidId, filled.Reservation),
                MatchEnd.Refused refused => await _writes.WriteBidAsync(order, BidState.Rejected, refused.Code, refused.Reason),
                MatchEnd.Unmatched unmatched => await RestOrRejectAsync(order, unmatched.Code, unmatched.Reason),
                _ => throw new InvalidOperationException("unknown end of matching"),
            };
        }
        catch (Exception e) when (IsTransient(e) && !_writes.IsFenced)
        {
            _toRecover.Add(order.BidId); // matching stopped part way: recover it from what the database says (if anything)
            if (order.BidVersion == 0)
            {
                // Not answered, so not accepted; if its write did commit, the same request again finds it. The caller hears
                // the fault as it is (a database fault says so).
                throw;
            }
            throw new DomainException(ErrorKind.Unavailable, "matching-interrupted",
                $"bid {order.BidId} was accepted but matching was interrupted; it will be completed shortly");
        }
        finally
        {
            _busyBids.Remove(order.BidId);
        }
    }

    /// <summary>A bid nothing can fill now: an IOC bid is rejected, a GTC bid rests in the book (if there is room).</summary>
    private async Task<BidView> RestOrRejectAsync(OpenOrder order, string code, string reason)
    {
        if (order.Order.TimeInForce == TimeInForce.Ioc)
        {
            return await _writes.WriteBidAsync(order, BidState.Rejected, code, reason);
        }
        if (order.Order.GoodUntil <= _clock.GetUtcNow())
        {
            return await _writes.WriteBidAsync(order, BidState.Expired, "expired", "the bid expired unfilled");
        }
        if (_resting.Count >= _options.MaxRestingBids)
        {
            return await _writes.WriteBidAsync(order, BidState.Rejected, "book-full", "the market holds as many resting bids as it can; try again later");
        }
        if (_resting.CountOf(order.TenantId) >= _options.MaxRestingBidsPerTenant)
        {
            return await _writes.WriteBidAsync(order, BidState.Rejected, "too-many-resting-bids",
                $"the company already has {_options.MaxRestingBidsPerTenant} bids resting in this market; cancel some or let them fill first");
        }
        var view = await _writes.WriteBidAsync(order, BidState.Resting, code, reason);
        await _resting.AddAsync(order);
        if (!TermsCurrent(order))
        {
            RematchSoon(); // its voucher's terms changed while it was being matched: try it again with the new ones
        }
        return view;
    }

    private async Task<BidView> RecordFillAsync(string bidId, ReservationView reservation)
    {
        try
        {
            var bid = await _writes.ChangeStoredBidAsync(bidId, b => b.WithFill(MarketWriter.FillOf(reservation)));
            MarketMetrics.Fills.Add(1, new KeyValuePair<string, object?>("gpu_model", Model), new KeyValuePair<string, object?>("province", reservation.Plan.Province));
            return bid;
        }
        catch (DomainException e) when (e.Code == "bid-not-open")
        {
            // The bid ended meanwhile (e.g. a duplicate match after a crash): give the capacity and funds back.
            _logger.LogWarning("Bid {BidId} closed before reservation {ReservationId} could fill it; cancelling the reservation", bidId, reservation.Id);
            await Reservation(reservation.Id).Cancel("bid-closed", "the bid had already ended");
            await RefreshPoolAsync(reservation.Plan.PoolId);
            return (await Bid(bidId).Get())!;
        }
    }

    /// <summary>A one-way nudge (a saga failed, capacity appeared): asks for another pass but never waits for one.</summary>
    public Task RematchResting() => _passes.Nudge();

    private void RematchSoon()
    {
        if (_resting.Count > 0)
        {
            this.AsReference<IMarketGrain>().RematchResting().Ignore();
        }
    }

    /// <summary>
    /// Rule 5: when capacity appears, resting bids are matched in price-time priority. All decisions of one pass are
    /// made (and their hours taken) in priority order before any saga runs, so a later bid never takes what an
    /// earlier one was given. Returns once a pass that began after the call has finished.
    /// </summary>
    private Task RematchRestingAsync() => _passes.RunAsync();

    private async Task<int> RematchPassAsync()
    {
        await ExpireDueAsync();
        await RefreshLapsedHoldsAsync();
        var waiting = _resting.InPriorityOrder().Where(o => !_busyBids.Contains(o.BidId)).ToList();
        await Task.WhenAll(waiting.Where(o => !TermsCurrent(o)).Select(ReadTermsForPassAsync));
        var matches = new List<(OpenOrder Order, ReservationPlan? Plan)>();
        foreach (var order in waiting.Where(o => _resting.InBook(o.BidId) && !_busyBids.Contains(o.BidId)))
        {
            if (!TermsCurrent(order))
            {
                continue; // its voucher did not answer (or changed meanwhile): it waits for the next pass
            }
            ReservationPlan? plan = null;
            if (order.Terms is not { Usable: false }) // a bid whose voucher can pay nothing any more ends with why
            {
                var decision = Decide(order);
                if (!decision.Matched)
                {
                    continue;
                }
                plan = PlanFor(order, decision);
                _view.Take(plan);
            }
            _resting.TakeOut(order.BidId);
            _busyBids.Add(order.BidId);
            matches.Add((order, plan));
        }
        if (matches.Count > 0)
        {
            await Task.WhenAll(matches.Select(m => CompleteRestingMatchAsync(m.Order, m.Plan)));
        }
        return matches.Count;
    }

    private async Task ReadTermsForPassAsync(OpenOrder order)
    {
        try
        {
            await TermsAsync(order);
        }
        catch (Exception e) when (IsTransient(e))
        {
            _logger.LogWarning(e, "The voucher of resting bid {BidId} did not answer; the bid waits for the next pass", order.BidId);
        }
    }

    private async Task CompleteRestingMatchAsync(OpenOrder order, ReservationPlan? plan)
    {
        var stillResting = true;
        try
        {
            var end = plan is null
                ? new MatchEnd.Refused(order.Terms!.RefusalCode!, order.Terms.RefusalReason!)
                : await MatchAsync(order, plan);
            switch (end)
            {
                case MatchEnd.Filled filled:
                    _resting.Forget(order.BidId);
                    stillResting = false;
                    if (filled.Bid is null)
                    {
                        await RecordFillAsync(order.BidId, filled.Reservation);
                    }
                    break;
                case MatchEnd.Refused refused:
                    _resting.Forget(order.BidId);
                    stillResting = false;
                    await _writes.WriteBidAsync(order, BidState.Rejected, refused.Code, refused.Reason);
                    break;
                default:
                    break; // it stays in the book; a saga that failed has already asked for another pass
            }
        }
        catch (Exception e) when (IsTransient(e))
        {
            _logger.LogWarning(e, "Matching resting bid {BidId} was interrupted; recovering it", order.BidId);
            _resting.Forget(order.BidId);
            stillResting = false;
            _toRecover.Add(order.BidId);
        }
        finally
        {
            _busyBids.Remove(order.BidId);
            if (stillResting)
            {
                _resting.PutBack(order); // unless it left the market meanwhile (cancelled, expired)
            }
        }
    }

    private Task ReportDemand(CancellationToken cancellationToken)
    {
        _resting.ReportDemand(Model, _clock.GetUtcNow());
        return Task.CompletedTask;
    }

    /// <summary>
    /// Refreshes the view of each pool whose unconfirmed holds have begun to lapse, so a decision never counts capacity
    /// that a lapsed hold has given back (the pool's own timer tells the market too, but only on its next tick).
    /// </summary>
    private async Task RefreshLapsedHoldsAsync()
    {
        RequireCurrent();
        var lapsed = _view.Lapsed(_clock.GetUtcNow()).Union(_unsure.Keys).ToList();
        if (lapsed.Count > 0)
        {
            await Task.WhenAll(lapsed.Select(RefreshPoolAsync));
        }
    }

    /// <summary>Reads the pool and its running holds as stored, the fills of this market included.</summary>
    private async Task RefreshPoolAsync(string poolId)
    {
        var readFrom = _view.BeginRead();
        var now = _clock.GetUtcNow();
        var booking = await _marketStore.LoadPoolAsync(poolId, Hours.Floor(now));
        if (booking is not null && booking.State.Spec.GpuModel == Model)
        {
            _view.Apply(booking, now, _limits.HorizonHours + 2, readFrom);
        }
        if (_unsure.TryGetValue(poolId, out var mark) && mark < readFrom)
        {
            _unsure.Remove(poolId);
        }
    }

}
