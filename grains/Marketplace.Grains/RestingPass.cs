using Microsoft.Extensions.Logging;

namespace Marketplace.Grains;

/// <summary>
/// Rule 5: when capacity appears, resting bids are matched in price-time priority. All decisions of one pass are made
/// (and their hours taken) in priority order before any fill is written, so a later bid never takes what an earlier one
/// was given. A pass first ends the bids that have expired. Passes run one at a time (<see cref="RepeatedPass"/>).
/// </summary>
internal sealed class RestingPass
{
    /// <summary>Passes in a row while fills keep failing and asking for another; more wait for the next request.</summary>
    private const int MaxPasses = 4;

    private readonly RestingOrders _resting;
    private readonly MarketTerms _terms;
    private readonly MarketMatcher _matcher;
    private readonly MarketWriter _writes;
    private readonly TimeProvider _clock;
    private readonly ILogger _logger;
    private readonly RepeatedPass _passes;

    public RestingPass(RestingOrders resting, MarketTerms terms, MarketMatcher matcher, MarketWriter writes, TimeProvider clock, ILogger logger)
    {
        _resting = resting;
        _terms = terms;
        _matcher = matcher;
        _writes = writes;
        _clock = clock;
        _logger = logger;
        _passes = new RepeatedPass(PassAsync, MaxPasses, logger, "matching resting bids");
    }

    /// <summary>Returns once a pass that began after the call has finished.</summary>
    public Task RunAsync() => _passes.RunAsync();

    /// <summary>Asks for another pass but never waits for one.</summary>
    public Task Nudge() => _passes.Nudge();

    private async Task<int> PassAsync()
    {
        await ExpireDueAsync();
        await _matcher.RefreshLapsedHoldsAsync();
        var busy = _matcher.Busy;
        var waiting = _resting.InPriorityOrder().Where(o => !busy.Contains(o.BidId)).ToList();
        await Task.WhenAll(waiting.Where(o => !_terms.Current(o)).Select(ReadTermsAsync));
        var matches = new List<(OpenOrder Order, ReservationPlan? Plan)>();
        foreach (var order in waiting.Where(o => _resting.InBook(o.BidId) && !busy.Contains(o.BidId)))
        {
            if (!_terms.Current(order))
            {
                continue; // its voucher did not answer (or changed meanwhile): it waits for the next pass
            }
            ReservationPlan? plan = null;
            if (order.Terms is not { Usable: false }) // a bid whose voucher can pay nothing any more ends with why
            {
                var decision = _matcher.Decide(order);
                if (!decision.Matched)
                {
                    continue;
                }
                plan = _matcher.Take(order, decision);
            }
            _resting.TakeOut(order.BidId);
            busy.Add(order.BidId);
            matches.Add((order, plan));
        }
        if (matches.Count > 0)
        {
            await Task.WhenAll(matches.Select(m => CompleteAsync(m.Order, m.Plan)));
        }
        return matches.Count;
    }

    private async Task ReadTermsAsync(OpenOrder order)
    {
        try
        {
            await _terms.ReadAsync(order);
        }
        catch (Exception e) when (MarketMatcher.IsTransient(e))
        {
            _logger.LogWarning(e, "The voucher of resting bid {BidId} did not answer; the bid waits for the next pass", order.BidId);
        }
    }

    private async Task CompleteAsync(OpenOrder order, ReservationPlan? plan)
    {
        var stillResting = true;
        try
        {
            var end = plan is null
                ? new MatchEnd.Refused(order.Terms!.RefusalCode!, order.Terms.RefusalReason!)
                : await _matcher.MatchAsync(order, plan);
            switch (end)
            {
                case MatchEnd.Filled filled:
                    _resting.Forget(order.BidId);
                    stillResting = false;
                    if (filled.Bid is null)
                    {
                        await _matcher.RecordFillAsync(order.BidId, filled.Reservation);
                    }
                    break;
                case MatchEnd.Refused refused:
                    _resting.Forget(order.BidId);
                    stillResting = false;
                    await _writes.WriteBidAsync(order, BidState.Rejected, refused.Code, refused.Reason);
                    break;
                default:
                    break; // it stays in the book; a fill that failed has already asked for another pass
            }
        }
        catch (Exception e) when (MarketMatcher.IsTransient(e))
        {
            _logger.LogWarning(e, "Matching resting bid {BidId} was interrupted; recovering it", order.BidId);
            _resting.Forget(order.BidId);
            stillResting = false;
            _matcher.ToRecover.Add(order.BidId);
        }
        finally
        {
            _matcher.Busy.Remove(order.BidId);
            if (stillResting)
            {
                _resting.PutBack(order); // unless it left the market meanwhile (cancelled, expired)
            }
        }
    }

    /// <summary>Ends the resting bids that are good no longer, or whose latest start has passed.</summary>
    public async Task ExpireDueAsync()
    {
        var now = _clock.GetUtcNow();
        var firstBookable = Hours.FirstBookable(now);
        foreach (var order in _resting.Orders.ToList())
        {
            if (_matcher.Busy.Contains(order.BidId))
            {
                continue;
            }
            var (expired, reason) = order.Order.GoodUntil <= now
                ? (true, $"good until {order.Order.GoodUntil:u}")
                : Hours.Floor(order.Order.LatestStart) < firstBookable
                    ? (true, "its latest start has passed")
                    : (false, "");
            if (expired)
            {
                _resting.Remove(order.BidId);
                await _writes.ChangeStoredBidAsync(order.BidId, bid => bid.Ended(BidState.Expired, "expired", $"the bid expired unfilled: {reason}"));
            }
        }
    }
}
