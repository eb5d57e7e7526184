using Marketplace.Storage;
using Marketplace.Matching;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace Marketplace.Grains;

/// <summary>
/// The market for one GPU model (rules 4–6), and the single writer of its fills. Decisions are made in one turn
/// against the market's view of every pool (<see cref="MarketView"/>), only on pools a bid's voucher can pay, and the
/// hours decided are taken from the view at once; each fill is then one statement (<see cref="MarketStore.Fill"/>: the
/// bid in its final state, the confirmed reservation, the capacity hold and the voucher hold with its ledger posting),
/// and the fills queued together share one commit. Nothing is answered or pushed before its commit. The epoch taken on
/// activation fences the writes of a stale duplicate activation. What follows each attempt is
/// <see cref="OutcomePolicy"/>'s call, the same for new, resting and re-matched bids. The market rebuilds from the
/// stored pools, holds and bids.
/// </summary>
[Reentrant]
public sealed partial class MarketGrain : Grain, IMarketGrain
{
    private readonly PoolStore _poolStore;
    private readonly BidStore _bidStore;
    private readonly ReservationStore _reservationStore;
    private readonly MarketStore _marketStore;
    private readonly MarketWriter _writes;
    private readonly MarketOptions _options;
    private readonly MarketLimits _limits;
    private readonly TimeProvider _clock;
    private readonly TimeProvider _timer;
    private readonly ILogger<MarketGrain> _logger;

    private readonly MarketView _view = new();
    private readonly RestingOrders _resting;
    private readonly HashSet<string> _busyBids = new(StringComparer.Ordinal);
    private readonly HashSet<string> _toRecover = new(StringComparer.Ordinal);
    private RoutingPreference _routing = RoutingPreference.None;
    /// <summary>Bumped when vouchers' terms may have changed (a notice, a sweep): terms read before it are read again.</summary>
    private long _termsEpoch;
    private DateTimeOffset _termsForgottenAt;
    /// <summary>How often a sweep makes resting bids read their vouchers' terms again, besides every approval notice.</summary>
    private static readonly TimeSpan TermsRefreshInterval = TimeSpan.FromMinutes(1);
    private readonly RepeatedPass _passes;
    /// <summary>Passes in a row while sagas keep failing and asking for another; more wait for the next request.</summary>
    private const int MaxRematchPasses = 4;
    /// <summary>New bids being placed, so a repeat of the request that arrives meanwhile waits for the same answer.</summary>
    private readonly Dictionary<string, (string OrderHash, Task<BidView> Answer)> _placing = new(StringComparer.Ordinal);
    /// <summary>Pools a fill was being written to when the database failed: the fill may have committed, so they are read again before the next decision.</summary>
    private readonly Dictionary<string, long> _unsure = new(StringComparer.Ordinal);

    public MarketGrain(PoolStore poolStore, BidStore bidStore, ReservationStore reservationStore, MarketStore marketStore, VoucherStore voucherStore,
        CommitBatcher writer, SagaFaults faults, IOptions<MarketOptions> options, IOptions<MarketLimits> limits,
        [FromKeyedServices(Names.ClockKeys.Market)] TimeProvider clock, TimeProvider timer, ILogger<MarketGrain> logger)
    {
        _timer = timer;
        _poolStore = poolStore;
        _bidStore = bidStore;
        _reservationStore = reservationStore;
        _marketStore = marketStore;
        _options = options.Value;
        _limits = limits.Value;
        _clock = clock;
        _logger = logger;
        _resting = new RestingOrders(GrainFactory);
        _passes = new RepeatedPass(RematchPassAsync, MaxRematchPasses, logger, "matching resting bids");
        _writes = new MarketWriter(this.GetPrimaryKeyString(), marketStore, bidStore, voucherStore, writer, faults, _limits, clock, GrainFactory, logger,
            DeactivateOnIdle);
    }

    private string Model => this.GetPrimaryKeyString();

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // First of all, so that the reads below see every fill an older activation had in flight.
        await _writes.TakeEpochAsync(cancellationToken);
        _routing = (await GrainFactory.GetGrain<IRoutingGrain>(0).Get()).ToPreference();
        var poolIds = await _poolStore.PoolIdsForModelAsync(Model, cancellationToken);
        await Task.WhenAll(poolIds.Select(RefreshPoolAsync));

        var open = await _bidStore.OpenBidsAsync(Model, cancellationToken);
        var openIds = open.Select(b => b.Id).ToList();
        var interrupted = await _reservationStore.BidsWithLiveReservationsAsync(openIds, cancellationToken);
        var attempts = await _reservationStore.CountsForBidsAsync(openIds, cancellationToken);
        await _resting.LearnProvincesAsync(open.Select(b => b.Bid.TenantId));
        foreach (var (id, bid, version) in open)
        {
            if (bid.State == BidState.Resting && !interrupted.Contains(id))
            {
                await _resting.AddAsync(new OpenOrder(id, bid.TenantId, bid.Order, attempts.GetValueOrDefault(id) + 1) { Record = bid, BidVersion = version });
            }
            else
            {
                _toRecover.Add(id); // a crash cut its matching short: find out how far it got before matching again
            }
        }

        this.RegisterGrainTimer(HousekeepingAsync, new GrainTimerCreationOptions(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30)) { Interleave = true });
        this.RegisterGrainTimer(ReportDemand, new GrainTimerCreationOptions(_options.PushInterval, _options.PushInterval) { Interleave = true });
    }

    // ---- Bids --------------------------------------------------------------------------------------------------

    public async Task<BidView> PlaceBid(BidSubmission submission)
    {
        RequireModel(submission.Order.GpuModel);
        RequireCurrent();
        if (_placing.TryGetValue(submission.BidId, out var placing))
        {
            // The same request again while the first is being matched: the same answer, once it is durable.
            return placing.OrderHash == submission.OrderHash
                ? await placing.Answer
                : throw new DomainException(ErrorKind.Rule, "idempotency-key-reused", "this idempotency key was already used for a different bid");
        }
        if (_resting.Holds(submission.BidId) || _busyBids.Contains(submission.BidId))
        {
            return await StoredAnswerAsync(submission); // resting or being matched: it was placed before
        }
        var now = _clock.GetUtcNow();
        // The bid is written once, in the state matching leaves it in (with its fill, in the fill's statement).
        var order = new OpenOrder(submission.BidId, submission.TenantId, submission.Order, 1)
        {
            Record = new BidRecord(submission.TenantId, submission.Order, submission.OrderHash, BidState.Pending, null, null, [], now, now)
                { ComputeBidId = submission.ComputeBidId },
        };
        var answer = PlaceAsync(order, submission);
        _placing[submission.BidId] = (submission.OrderHash, answer);
        try
        {
            return await answer;
        }
        finally
        {
            _placing.Remove(submission.BidId);
        }
    }

    private async Task<BidView> PlaceAsync(OpenOrder order, BidSubmission submission)
    {
        await Task.Yield(); // registered as placing before any of it runs
        try
        {
            var view = await MatchNewAsync(order);
            MarketMetrics.BidsAccepted.Add(1, new KeyValuePair<string, object?>("gpu_model", Model));
            return view;
        }
        catch (BidAlreadyWrittenException)
        {
            return await StoredAnswerAsync(submission); // placed before (its answer was lost): the stored answer
        }
    }

    /// <summary>The answer stored for a bid placed before, if the request is the same.</summary>
    private async Task<BidView> StoredAnswerAsync(BidSubmission submission)
    {
        var (bid, _) = await Bid(submission.BidId).Open(submission);
        return bid;
    }

    public async Task<Quote> Quote(string tenantId, BidOrder order)
    {
        RequireModel(order.GpuModel);
        await RefreshLapsedHoldsAsync();
        var open = new OpenOrder("quote", tenantId, order, 1);
        if (order.VoucherId is { } id)
        {
            open.Terms = await GrainFactory.GetGrain<IVoucherGrain>(id).FundingTerms(tenantId);
        }
        var decision = Decide(open);
        if (!decision.Matched)
        {
            var (code, reason) = open.Terms is { Usable: false } terms ? (terms.RefusalCode!, terms.RefusalReason!) : Describe(open, decision);
            return new Quote(false, null, null, null, null, null, null, 0, 0, 0, code, reason);
        }
        var pool = _view.Spec(decision.Pool!.PoolId);
        var reliability = decision.Pool!.ReliabilityBasisPoints;
        var startsAt = Hours.ToTime(decision.StartHour);
        var endsAt = Hours.ToTime(decision.StartHour + order.DurationHours);
        var cost = Money.Cost(decision.FenPerGpuHour, order.GpuCount, order.DurationHours);
        long voucherShare = 0;
        string? note = null;
        if (order.VoucherId is { } voucherId)
        {
            var preview = await GrainFactory.GetGrain<IVoucherGrain>(voucherId).PreviewFunding(
                new FundingRequest("quote", tenantId, pool.ProviderId, pool.ProviderCreditCode, startsAt, endsAt, cost));
            voucherShare = preview.AmountFen;
            note = preview.Accepted ? null : preview.RefusalReason;
        }
        var cash = await GrainFactory.GetGrain<ICashGrain>(tenantId).Get(0);
        return new Quote(true, pool.PoolId, pool.ProviderId, pool.Site.Province, startsAt, endsAt, decision.FenPerGpuHour, cost,
            voucherShare, cost - voucherShare, note is null ? null : "voucher-not-usable", note,
            Money.CashHold(cost, voucherShare, _limits.CancellationChargeBasisPoints), cash.AvailableFen, ProviderReliabilityBasisPoints: reliability);
    }

    public async Task<BidView> CancelBid(string bidId, string tenantId)
    {
        if (_busyBids.Contains(bidId))
        {
            throw DomainException.Conflict("bid-being-matched", "the bid is being matched right now; try again in a moment");
        }
        var bid = await Bid(bidId).Get();
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
        if (!_busyBids.Add(bidId))
        {
            throw DomainException.Conflict("bid-being-matched", "the bid is being matched right now; try again in a moment");
        }
        try
        {
            // A bid a crash left pending may have a reservation that confirmed: it goes with the bid (or, if it has
            // started, it is the bid's fill and the bid can no longer be cancelled).
            var cancelled = await CancelReservationsOfAsync(bidId);
            _resting.Remove(bidId);
            _toRecover.Remove(bidId);
            var reason = cancelled.Count == 0 ? "cancelled by the tenant"
                : $"cancelled by the tenant; reservation {string.Join(", ", cancelled)}, confirmed while the bid was being recovered, was cancelled with it";
            return await EndBid(bidId, BidState.Cancelled, "cancelled", reason);
        }
        finally
        {
            _busyBids.Remove(bidId);
        }
    }

    public async Task<ReservationView> CancelReservation(string reservationId, string tenantId)
    {
        var reservation = Reservation(reservationId);
        var view = await reservation.Get();
        if (view is null || view.Plan.TenantId != tenantId || view.Plan.GpuModel != Model)
        {
            throw DomainException.NotFound("reservation", reservationId);
        }
        var cancelled = await reservation.Cancel(ReservationGrain.TenantCancellation, "cancelled by the tenant");
        var bid = await Bid(view.Plan.BidId).Get();
        if (bid is not null && bid.Fills.Any(f => f.ReservationId == reservationId))
        {
            await _writes.ChangeStoredBidAsync(bid.Id, b => b.WithInterruptedFill(reservationId, null, null, "reservation-cancelled",
                $"reservation {reservationId} was cancelled by the tenant"));
        }
        await RefreshPoolAsync(view.Plan.PoolId);
        await RematchRestingAsync();
        TellComputeBids();
        return cancelled;
    }

    public Task<OrderBook> GetBook()
    {
        var firstBookable = Hours.FirstBookable(_clock.GetUtcNow());
        var bids = _resting.Levels();
        var asks = _view.Ladder.Select(p => new AskLevel(p.PoolId, p.Province, p.AskFenPerGpuHour, p.GpuCount,
            p.FreeGpuHours(firstBookable), p.UtilizationBasisPoints(firstBookable, firstBookable + 24))).ToList();
        return Task.FromResult(new OrderBook(Model, bids, asks, _clock.GetUtcNow()));
    }

    /// <summary>
    /// Rule 3: a notice changed what the vouchers of a program can pay; resting bids read their vouchers' terms again,
    /// try again pools they had left out, and are matched against whatever the notice made payable.
    /// </summary>
    public async Task ApprovalsChanged(string programId)
    {
        ForgetVoucherTerms();
        await RematchRestingAsync();
    }

    public async Task RoutingChanged(RoutingPolicy policy)
    {
        _routing = policy.ToPreference();
        await RematchRestingAsync();
    }

    /// <summary>
    /// Every voucher's terms as the market knows them may be out of date: each order reads them again before it is next
    /// decided on (an order being matched right now too, when it is next decided on), and tries again pools it left out.
    /// </summary>
    private void ForgetVoucherTerms()
    {
        _termsEpoch++;
        _termsForgottenAt = _clock.GetUtcNow();
        foreach (var order in _resting.Orders.Where(o => o.Order.VoucherId is not null))
        {
            order.Excluded.Clear();
        }
    }

    // ---- Pools -------------------------------------------------------------------------------------------------

    public async Task<PoolView> ListPool(PoolSpec spec)
    {
        RequireModel(spec.GpuModel);
        var view = await Pool(spec.PoolId).Initialize(spec);
        await RefreshPoolAsync(spec.PoolId);
        await RematchRestingAsync();
        TellComputeBids();
        return view;
    }

    public async Task<PoolView> ChangePool(string poolId, PoolChange change)
    {
        var view = await Pool(poolId).Change(change);
        await RefreshPoolAsync(poolId);
        await RematchRestingAsync();
        TellComputeBids();
        return view;
    }

    public async Task SuspendPool(string poolId, string? because)
    {
        if (await Pool(poolId).Suspend(because))
        {
            await RefreshPoolAsync(poolId);
            if (because is null)
            {
                await RematchRestingAsync();
                TellComputeBids();
            }
        }
    }

    public async Task PoolReliabilityChanged(string poolId, int? scoreBasisPoints)
    {
        if (await Pool(poolId).SetReliability(scoreBasisPoints))
        {
            await RefreshPoolAsync(poolId);
            await RematchRestingAsync(); // a bid that required more may now fill there
        }
    }

    public async Task CapacityChanged(string poolId)
    {
        await RefreshPoolAsync(poolId);
        RematchSoon();
        TellComputeBids();
    }

    // ---- Time ------------------------------------------------------------------------------------------------

    public async Task Sweep()
    {
        await Task.WhenAll(_view.PoolIds.ToList().Select(RefreshPoolAsync));
        if (_clock.GetUtcNow() - _termsForgottenAt >= TermsRefreshInterval)
        {
            ForgetVoucherTerms(); // vouchers change on their own too (spent, expired): read them again now and then
        }
        _routing = (await GrainFactory.GetGrain<IRoutingGrain>(0).Get()).ToPreference(); // in case a change did not reach this market
        await ExpireDueAsync();
        foreach (var bidId in _toRecover.ToList())
        {
            await RecoverAsync(bidId);
        }
        await RematchRestingAsync();
        TellComputeBids(); // also lets resting compute bids expire
    }

    private Task HousekeepingAsync(CancellationToken cancellationToken) => Sweep();

    private async Task ExpireDueAsync()
    {
        var now = _clock.GetUtcNow();
        var firstBookable = Hours.FirstBookable(now);
        foreach (var order in _resting.Orders.ToList())
        {
            if (_busyBids.Contains(order.BidId))
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
                await EndBid(order.BidId, BidState.Expired, "expired", $"the bid expired unfilled: {reason}");
            }
        }
    }

    // ---- Helpers -----------------------------------------------------------------------------------------------

    /// <summary>
    /// Tells the resting compute bids (rule 9) that this market's capacity may have grown, after this market's own resting
    /// bids had their turn. One way: the compute bids place their bids in the markets, so a market never waits on them.
    /// </summary>
    private void TellComputeBids() => GrainFactory.GetGrain<IComputeBookGrain>(0).CapacityMayHaveGrown(Model).Ignore();

    /// <summary>Refuses work once a newer activation of this market has taken over.</summary>
    private void RequireCurrent()
    {
        if (_writes.IsFenced)
        {
            throw MarketWriter.Moved();
        }
    }

    private void RequireModel(string model)
    {
        if (model != Model)
        {
            throw DomainException.Rule("wrong-market", $"this is the {Model} market, not {model}", "gpuModel");
        }
    }

    private IBidGrain Bid(string id) => GrainFactory.GetGrain<IBidGrain>(id);

    /// <summary>Ends a bid (rejected, expired or cancelled) and counts why.</summary>
    private Task<BidView> EndBid(string bidId, BidState state, string code, string reason) =>
        _writes.ChangeStoredBidAsync(bidId, bid => bid.Ended(state, code, reason));

    private IReservationGrain Reservation(string id) => GrainFactory.GetGrain<IReservationGrain>(id);

    private IGpuPoolGrain Pool(string id) => GrainFactory.GetGrain<IGpuPoolGrain>(id);
}
