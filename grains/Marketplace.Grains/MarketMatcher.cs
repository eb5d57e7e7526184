using Marketplace.Matching;
using Marketplace.Storage;
using Microsoft.Extensions.Logging;

namespace Marketplace.Grains;

/// <summary>
/// How a market matches a bid, the same for every bid (new, resting, recovered, or the rest of a rental an outage cut
/// short): decide in one turn against the market's view of every pool (<see cref="MarketView"/>), only on pools the bid's
/// voucher can pay; take the hours from the view at once; write the fill (<see cref="MarketWriter"/>); and let
/// <see cref="OutcomePolicy"/> say what follows. It also keeps the view as current as a decision needs it.
/// </summary>
internal sealed class MarketMatcher(string model, RestingOrders resting, MarketTerms terms, MarketWriter writes, MarketStore marketStore,
    MarketOptions options, MarketLimits limits, TimeProvider clock, TimeProvider timer, IGrainFactory grains, ILogger logger, Action nudge)
{
    /// <summary>Times in a row a bid's fill may find its voucher moved by someone else before that counts as an attempt.</summary>
    private const int MaxVoucherChanges = 5;

    /// <summary>Pools a fill was being written to when the database failed: the fill may have committed, so they are read again before the next decision.</summary>
    private readonly Dictionary<string, long> _unsure = new(StringComparer.Ordinal);

    public MarketView View { get; } = new();

    public RoutingPreference Routing { get; set; } = RoutingPreference.None;

    /// <summary>Bids being matched, cancelled or recovered right now: one thing at a time per bid.</summary>
    public HashSet<string> Busy { get; } = new(StringComparer.Ordinal);

    /// <summary>Bids whose matching a crash or fault cut short, to be recovered from what the database says.</summary>
    public HashSet<string> ToRecover { get; } = new(StringComparer.Ordinal);

    public MatchDecision Decide(OpenOrder order)
    {
        var firstBookable = Hours.FirstBookable(clock.GetUtcNow());
        return MatchingEngine.Decide(order.Request, View.Ladder, firstBookable, firstBookable + limits.HorizonHours, order.Excluded,
            order.FundableStarts(View), Routing);
    }

    /// <summary>Why nothing matched, in the words a tenant would want: for a voucher bid, why its voucher could pay no pool with room.</summary>
    public (string Code, string Reason) Describe(OpenOrder order, MatchDecision decision)
    {
        if (decision.Reason == NoMatchReason.NotFundable && order.Terms is { } voucher && decision.UnfundablePool is { } pool)
        {
            var spec = View.Spec(pool.PoolId);
            var start = decision.UnfundableStartHour;
            if (voucher.RefusalFor(spec.ProviderCreditCode, Hours.ToTime(start), Hours.ToTime(start + order.Order.DurationHours)) is { } refusal)
            {
                return (refusal.Code, NoMatchWording.VoucherRefused(refusal.Reason));
            }
        }
        return NoMatchWording.Of(decision.Reason);
    }

    /// <summary>The reservation a decision makes, and takes its hours from the view.</summary>
    public ReservationPlan Take(OpenOrder order, MatchDecision decision)
    {
        var spec = View.Spec(decision.Pool!.PoolId);
        var plan = new ReservationPlan(Ids.Reservation(order.BidId, order.NextReservation++), order.BidId, order.TenantId, spec.PoolId, spec.ProviderId,
            spec.ProviderCreditCode, model, spec.Site.Province, spec.Site.SiteId, decision.StartHour, order.Order.DurationHours, order.Order.GpuCount,
            decision.FenPerGpuHour, order.Order.VoucherId, spec.ProviderName, spec.Site.Name, decision.Pool!.ReliabilityBasisPoints);
        View.Take(plan);
        return plan;
    }

    /// <summary>
    /// Matches the order until it fills, is refused, or nothing can fill it now. <paramref name="decided"/> is a plan the
    /// caller already decided and took (a resting bid, decided in priority order with the others of its pass).
    /// </summary>
    public async Task<MatchEnd> MatchAsync(OpenOrder order, ReservationPlan? decided = null)
    {
        (string Code, string Reason)? lastRefusal = null;
        var voucherChanges = 0;
        for (var attempt = 1; ; attempt++)
        {
            var plan = decided;
            decided = null;
            if (plan is null)
            {
                if (await terms.ReadAsync(order) is { Usable: false } voucher)
                {
                    return new MatchEnd.Refused(voucher.RefusalCode!, voucher.RefusalReason!);
                }
                var decision = Decide(order);
                if (!decision.Matched)
                {
                    var (code, reason) = lastRefusal ?? Describe(order, decision);
                    return new MatchEnd.Unmatched(code, reason, lastRefusal is not null || decision.Reason == NoMatchReason.NotFundable);
                }
                plan = Take(order, decision);
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
        var started = timer.GetTimestamp();
        FillAttempt attempt;
        try
        {
            // The pool's terms as when the plan was decided: a read since may have brought newer ones.
            attempt = await writes.FillAsync(order, plan, View.TermsOf(plan), terms.ReadAsync);
        }
        catch
        {
            View.Finished(plan, written: true);
            _unsure[plan.PoolId] = View.BeginRead(); // a read that begins after this shows whether it was written
            throw;
        }
        View.Finished(plan, attempt.Kind == AttemptOutcome.Filled);
        MarketMetrics.SagaDuration.Record(timer.GetElapsedTime(started).TotalMilliseconds);
        if (attempt.Kind != AttemptOutcome.Filled)
        {
            MarketMetrics.SagasFailed.Add(1, new KeyValuePair<string, object?>("reason", attempt.Code));
            RematchSoon();
        }
        else
        {
            var r = attempt.Reservation!;
            grains.GetGrain<IUtilizationGrain>(0).ReportFill(new FillTick(r.Id, model, r.Plan.Province, r.Plan.SiteId, r.Plan.Gpus,
                r.Plan.Hours, r.Plan.FenPerGpuHour, r.VoucherFen, r.UpdatedAt)).Ignore();
        }
        return attempt;
    }

    /// <summary>A fault that is not the bid's: a silo or the database failed on the way, and asking again may succeed.</summary>
    public static bool IsTransient(Exception e) =>
        e is not (DomainException or BidAlreadyWrittenException) || e is DomainException { Kind: ErrorKind.Unavailable };

    /// <summary>Matches a bid just accepted (or one recovered after a crash), and writes how it ended.</summary>
    public async Task<BidView> MatchNewAsync(OpenOrder order)
    {
        Busy.Add(order.BidId);
        try
        {
            // Inside the try: a pool that cannot answer now interrupts matching like any other step, and the bid is recovered.
            await RefreshLapsedHoldsAsync();
            return await MatchAsync(order) switch
            {
                MatchEnd.Filled filled => filled.Bid ?? await RecordFillAsync(order.BidId, filled.Reservation),
                MatchEnd.Refused refused => await writes.WriteBidAsync(order, BidState.Rejected, refused.Code, refused.Reason),
                MatchEnd.Unmatched unmatched => await RestOrRejectAsync(order, unmatched.Code, unmatched.Reason),
                _ => throw new InvalidOperationException("unknown end of matching"),
            };
        }
        catch (Exception e) when (IsTransient(e) && !writes.IsFenced)
        {
            ToRecover.Add(order.BidId); // matching stopped part way: recover it from what the database says (if anything)
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
            Busy.Remove(order.BidId);
        }
    }

    /// <summary>A bid nothing can fill now: an IOC bid is rejected, a GTC bid rests in the book (if there is room).</summary>
    private async Task<BidView> RestOrRejectAsync(OpenOrder order, string code, string reason)
    {
        if (order.Order.TimeInForce == TimeInForce.Ioc)
        {
            return await writes.WriteBidAsync(order, BidState.Rejected, code, reason);
        }
        if (order.Order.GoodUntil <= clock.GetUtcNow())
        {
            return await writes.WriteBidAsync(order, BidState.Expired, "expired", "the bid expired unfilled");
        }
        if (resting.Count >= options.MaxRestingBids)
        {
            return await writes.WriteBidAsync(order, BidState.Rejected, "book-full", "the market holds as many resting bids as it can; try again later");
        }
        if (resting.CountOf(order.TenantId) >= options.MaxRestingBidsPerTenant)
        {
            return await writes.WriteBidAsync(order, BidState.Rejected, "too-many-resting-bids",
                $"the company already has {options.MaxRestingBidsPerTenant} bids resting in this market; cancel some or let them fill first");
        }
        var view = await writes.WriteBidAsync(order, BidState.Resting, code, reason);
        await resting.AddAsync(order);
        if (!terms.Current(order))
        {
            RematchSoon(); // its voucher's terms changed while it was being matched: try it again with the new ones
        }
        return view;
    }

    /// <summary>Records a confirmed reservation as the bid's fill; if the bid ended meanwhile, the reservation is cancelled.</summary>
    public async Task<BidView> RecordFillAsync(string bidId, ReservationView reservation)
    {
        try
        {
            var bid = await writes.ChangeStoredBidAsync(bidId, b => b.WithFill(MarketWriter.FillOf(reservation)));
            MarketMetrics.Fills.Add(1, new KeyValuePair<string, object?>("gpu_model", model), new KeyValuePair<string, object?>("province", reservation.Plan.Province));
            return bid;
        }
        catch (DomainException e) when (e.Code == "bid-not-open")
        {
            // The bid ended meanwhile (e.g. a duplicate match after a crash): give the capacity and funds back.
            logger.LogWarning("Bid {BidId} closed before reservation {ReservationId} could fill it; cancelling the reservation", bidId, reservation.Id);
            await grains.GetGrain<IReservationGrain>(reservation.Id).Cancel("bid-closed", "the bid had already ended");
            await RefreshPoolAsync(reservation.Plan.PoolId);
            return (await grains.GetGrain<IBidGrain>(bidId).Get())!;
        }
    }

    /// <summary>Asks for another pass over the resting bids, if any rest, without waiting for it.</summary>
    public void RematchSoon()
    {
        if (resting.Count > 0)
        {
            nudge();
        }
    }

    /// <summary>
    /// Refreshes the view of each pool whose unconfirmed holds have begun to lapse, so a decision never counts capacity
    /// that a lapsed hold has given back (the pool's own timer tells the market too, but only on its next tick).
    /// </summary>
    public async Task RefreshLapsedHoldsAsync()
    {
        writes.RequireCurrent();
        var lapsed = View.Lapsed(clock.GetUtcNow()).Union(_unsure.Keys).ToList();
        if (lapsed.Count > 0)
        {
            await Task.WhenAll(lapsed.Select(RefreshPoolAsync));
        }
    }

    /// <summary>Reads the pool and its running holds as stored, the fills of this market included.</summary>
    public async Task RefreshPoolAsync(string poolId)
    {
        var readFrom = View.BeginRead();
        var now = clock.GetUtcNow();
        var booking = await marketStore.LoadPoolAsync(poolId, Hours.Floor(now));
        if (booking is not null && booking.State.Spec.GpuModel == model)
        {
            View.Apply(booking, now, limits.HorizonHours + 2, readFrom);
        }
        if (_unsure.TryGetValue(poolId, out var mark) && mark < readFrom)
        {
            _unsure.Remove(poolId);
        }
    }
}
