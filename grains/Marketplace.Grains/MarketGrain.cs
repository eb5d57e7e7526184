using Marketplace.Storage;
using Marketplace.Matching;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace Marketplace.Grains;

/// <summary>
/// The market for one GPU model (rules 4–6). Decisions are made in one turn against the market's view of every pool,
/// and the hours decided are taken from that view at once, so the next decision already sees them; the reservation
/// sagas then run concurrently. The pools stay the authority: a pool that refuses makes the market refresh its view
/// and decide again. Nothing here is persisted: pools, bids and reservations are, and the market rebuilds from them.
/// </summary>
[Reentrant]
public sealed class MarketGrain : Grain, IMarketGrain
{
    private const int MaxAttempts = 3;

    private static readonly HashSet<string> FinalFundingRefusals = new(StringComparer.Ordinal)
    {
        "voucher-not-found", "voucher-not-registered", "voucher-expired", "voucher-lapsed", "voucher-exhausted",
        "rental-after-expiry", "hold-conflict", "hold-released",
    };

    private readonly PoolStore _poolStore;
    private readonly BidStore _bidStore;
    private readonly ReservationStore _reservationStore;
    private readonly MarketOptions _options;
    private readonly MarketLimits _limits;
    private readonly TimeProvider _clock;
    private readonly TimeProvider _timer;
    private readonly ILogger<MarketGrain> _logger;

    private readonly AskLadder _ladder = new();
    private readonly Dictionary<string, PoolEntry> _pools = new(StringComparer.Ordinal);
    private readonly RestingBook _resting = new();
    private readonly Dictionary<string, RestingOrder> _orders = new(StringComparer.Ordinal);
    private readonly HashSet<string> _busyBids = new(StringComparer.Ordinal);
    private readonly HashSet<string> _toRecover = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _tenantProvinces = new(StringComparer.Ordinal);
    private long _sequence;
    private bool _rematching;
    private bool _rematchAgain;
    private bool _demandChanged = true;
    private DateTimeOffset _demandReportedAt;

    public MarketGrain(PoolStore poolStore, BidStore bidStore, ReservationStore reservationStore, IOptions<MarketOptions> options,
        IOptions<MarketLimits> limits, [FromKeyedServices(Names.ClockKeys.Market)] TimeProvider clock, TimeProvider timer, ILogger<MarketGrain> logger)
    {
        _timer = timer;
        _poolStore = poolStore;
        _bidStore = bidStore;
        _reservationStore = reservationStore;
        _options = options.Value;
        _limits = limits.Value;
        _clock = clock;
        _logger = logger;
    }

    private sealed class PoolEntry(PoolSpec spec)
    {
        public PoolSpec Spec { get; set; } = spec;
        public long Version { get; set; } = -1;
        /// <summary>Plans whose sagas are running on this pool, taken from the view but maybe not yet held by the pool.</summary>
        public Dictionary<string, ReservationPlan> InFlight { get; } = new(StringComparer.Ordinal);
        /// <summary>When the first unconfirmed hold in the view lapses; from then on the view shows capacity that is free.</summary>
        public DateTimeOffset? NextHoldExpiry { get; set; }
    }

    private sealed class RestingOrder(string bidId, string tenantId, BidOrder order, long sequence, int nextReservation)
    {
        public string BidId { get; } = bidId;
        public string TenantId { get; } = tenantId;
        public BidOrder Order { get; } = order;
        public long Sequence { get; } = sequence;
        public int NextReservation { get; set; } = nextReservation;
        /// <summary>Pools this bid's voucher cannot pay (not approved, related party): not worth another saga.</summary>
        public HashSet<string> Excluded { get; } = new(StringComparer.Ordinal);
    }

    private string Model => this.GetPrimaryKeyString();

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var poolIds = await _poolStore.PoolIdsForModelAsync(Model, cancellationToken);
        await Task.WhenAll(poolIds.Select(RefreshPoolAsync));

        var open = await _bidStore.OpenBidsAsync(Model, cancellationToken);
        var openIds = open.Select(b => b.Id).ToList();
        var interrupted = await _reservationStore.BidsWithLiveReservationsAsync(openIds, cancellationToken);
        var attempts = await _reservationStore.CountsForBidsAsync(openIds, cancellationToken);
        await Task.WhenAll(open.Select(b => b.Bid.TenantId).Distinct().Select(async tenantId =>
            _tenantProvinces[tenantId] = (await GrainFactory.GetGrain<ITenantGrain>(tenantId).Get())?.Registration.Province ?? "Unknown"));
        foreach (var (id, bid) in open)
        {
            if (bid.State == BidState.Resting && !interrupted.Contains(id))
            {
                await AddRestingAsync(id, bid.TenantId, bid.Order, attempts.GetValueOrDefault(id) + 1);
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
        var (bid, created) = await Bid(submission.BidId).Open(submission);
        if (!created)
        {
            return bid;
        }
        MarketMetrics.BidsAccepted.Add(1, new KeyValuePair<string, object?>("gpu_model", Model));
        return await MatchNewAsync(submission.BidId, submission.TenantId, submission.Order, 1);
    }

    public async Task<Quote> Quote(string tenantId, BidOrder order)
    {
        RequireModel(order.GpuModel);
        await RefreshLapsedHoldsAsync();
        var decision = Decide(order, null);
        if (!decision.Matched)
        {
            var (code, reason) = Describe(decision.Reason);
            return new Quote(false, null, null, null, null, null, null, 0, 0, 0, code, reason);
        }
        var pool = _pools[decision.Pool!.PoolId].Spec;
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
        return new Quote(true, pool.PoolId, pool.ProviderId, pool.Site.Province, startsAt, endsAt, decision.FenPerGpuHour, cost,
            voucherShare, cost - voucherShare, note is null ? null : "voucher-not-usable", note);
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
        RemoveResting(bidId);
        _toRecover.Remove(bidId);
        return await EndBid(bidId, BidState.Cancelled, "cancelled", "cancelled by the tenant");
    }

    public async Task<ReservationView> CancelReservation(string reservationId, string tenantId)
    {
        var reservation = Reservation(reservationId);
        var view = await reservation.Get();
        if (view is null || view.Plan.TenantId != tenantId || view.Plan.GpuModel != Model)
        {
            throw DomainException.NotFound("reservation", reservationId);
        }
        var cancelled = await reservation.Cancel("cancelled", "cancelled by the tenant");
        await RefreshPoolAsync(view.Plan.PoolId);
        await RematchRestingAsync();
        return cancelled;
    }

    public Task<OrderBook> GetBook()
    {
        var firstBookable = Hours.FirstBookable(_clock.GetUtcNow());
        var bids = _resting.Levels().Select(l => new BidLevel(l.FenPerGpuHour, l.Bids, l.Gpus)).ToList();
        var asks = _ladder.Pools.Select(p => new AskLevel(p.PoolId, p.Province, p.AskFenPerGpuHour, p.GpuCount,
            p.FreeGpuHours(firstBookable), p.UtilizationBasisPoints(firstBookable, firstBookable + 24))).ToList();
        return Task.FromResult(new OrderBook(Model, bids, asks, _clock.GetUtcNow()));
    }

    // ---- Pools -------------------------------------------------------------------------------------------------

    public async Task<PoolView> ListPool(PoolSpec spec)
    {
        RequireModel(spec.GpuModel);
        var view = await Pool(spec.PoolId).Initialize(spec);
        await RefreshPoolAsync(spec.PoolId);
        await RematchRestingAsync();
        return view;
    }

    public async Task<PoolView> ChangePool(string poolId, PoolChange change)
    {
        var view = await Pool(poolId).Change(change);
        await RefreshPoolAsync(poolId);
        await RematchRestingAsync();
        return view;
    }

    public async Task CapacityChanged(string poolId)
    {
        await RefreshPoolAsync(poolId);
        RematchSoon();
    }

    /// <summary>
    /// Rule 6: takes the capacity out, interrupts the reservations it hits (they settle the hours used and release the
    /// rest) and re-matches what is left of each elsewhere when it can. The tenant sees why on the bid and reservation.
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
            var replacement = await RematchRemainderAsync(view, poolId);
            if (replacement is not null)
            {
                rematched.Add(replacement.ReservationId);
            }
            var usedPart = view.KeptHours > 0 ? FillOf(view) : null;
            var (code, reason) = replacement is not null
                ? ("rematched-after-outage", $"an outage at pool {poolId} interrupted reservation {reservationId}; the remaining hours moved to pool {replacement.PoolId}")
                : ("outage-no-capacity", $"an outage at pool {poolId} interrupted reservation {reservationId}; no other pool could take the remaining hours");
            await Bid(view.Plan.BidId).FillInterrupted(reservationId, usedPart, replacement, code, reason);
        }
        await RefreshPoolAsync(poolId);
        return new OutageReport(outage.OutageId, [poolId], interrupted, rematched);
    }

    // ---- Time ------------------------------------------------------------------------------------------------

    public async Task Sweep()
    {
        await Task.WhenAll(_pools.Keys.ToList().Select(RefreshPoolAsync));
        await ExpireDueAsync();
        foreach (var bidId in _toRecover.ToList())
        {
            await RecoverAsync(bidId);
        }
        await RematchRestingAsync();
    }

    private Task HousekeepingAsync(CancellationToken cancellationToken) => Sweep();

    private async Task ExpireDueAsync()
    {
        var now = _clock.GetUtcNow();
        var firstBookable = Hours.FirstBookable(now);
        foreach (var order in _orders.Values.ToList())
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
                RemoveResting(order.BidId);
                await EndBid(order.BidId, BidState.Expired, "expired", $"the bid expired unfilled: {reason}");
            }
        }
    }

    // ---- Matching --------------------------------------------------------------------------------------------

    private MatchDecision Decide(BidOrder order, IReadOnlySet<string>? excluded)
    {
        var firstBookable = Hours.FirstBookable(_clock.GetUtcNow());
        var request = new BidRequest(order.GpuCount, order.DurationHours, Hours.Ceiling(order.EarliestStart), Hours.Floor(order.LatestStart),
            order.MaxFenPerGpuHour, order.AllowedProvinces is { Count: > 0 } p ? p.ToHashSet(StringComparer.Ordinal) : null);
        return MatchingEngine.Decide(request, _ladder.Pools, firstBookable, firstBookable + _limits.HorizonHours, excluded);
    }

    private ReservationPlan PlanFor(string bidId, string tenantId, BidOrder order, MatchDecision decision, int sequence)
    {
        var spec = _pools[decision.Pool!.PoolId].Spec;
        return new ReservationPlan(Ids.Reservation(bidId, sequence), bidId, tenantId, spec.PoolId, spec.ProviderId, spec.ProviderCreditCode,
            Model, spec.Site.Province, spec.Site.SiteId, decision.StartHour, order.DurationHours, order.GpuCount, decision.FenPerGpuHour,
            order.VoucherId);
    }

    /// <summary>Takes the plan's hours from the market's view at once, so the next decision already sees them gone.</summary>
    private void Take(ReservationPlan plan)
    {
        _ladder.Find(plan.PoolId)!.Take(plan.StartHour, plan.Hours, plan.Gpus);
        _pools[plan.PoolId].InFlight[plan.ReservationId] = plan;
    }

    /// <summary>Runs the reservation's saga; gives the hours back to the view if it did not confirm.</summary>
    private async Task<SagaOutcome> RunSagaAsync(ReservationPlan plan)
    {
        SagaOutcome outcome;
        var started = _timer.GetTimestamp();
        try
        {
            outcome = await OpenWithRetriesAsync(plan);
        }
        finally
        {
            _pools[plan.PoolId].InFlight.Remove(plan.ReservationId);
        }
        MarketMetrics.SagaDuration.Record(_timer.GetElapsedTime(started).TotalMilliseconds);
        if (!outcome.Confirmed)
        {
            MarketMetrics.SagasFailed.Add(1, new KeyValuePair<string, object?>("reason", outcome.Reservation.ReasonCode));
            _ladder.Find(plan.PoolId)?.Give(plan.StartHour, plan.Hours, plan.Gpus);
            RematchSoon();
        }
        else
        {
            var r = outcome.Reservation;
            GrainFactory.GetGrain<IUtilizationGrain>(0).ReportFill(new FillTick(r.Id, Model, r.Plan.Province, r.Plan.SiteId, r.Plan.Gpus,
                r.Plan.Hours, r.Plan.FenPerGpuHour, r.VoucherFen, r.UpdatedAt)).Ignore();
        }
        return outcome;
    }

    /// <summary>A silo can die mid-call; the saga is idempotent, so asking again is safe and finishes or compensates it.</summary>
    private async Task<SagaOutcome> OpenWithRetriesAsync(ReservationPlan plan)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await Reservation(plan.ReservationId).Open(plan);
            }
            catch (Exception e) when (attempt < MaxAttempts && IsTransient(e))
            {
                _logger.LogWarning(e, "Reservation {ReservationId} saga attempt {Attempt} failed; retrying", plan.ReservationId, attempt);
            }
        }
    }

    private static bool IsTransient(Exception e) =>
        e is not DomainException || e is DomainException { Kind: ErrorKind.Unavailable };

    /// <summary>Matches a bid just accepted (or one recovered after a crash).</summary>
    private async Task<BidView> MatchNewAsync(string bidId, string tenantId, BidOrder order, int nextReservation)
    {
        _busyBids.Add(bidId);
        try
        {
            // Inside the try: a pool that cannot answer now interrupts matching like any other step, and the bid is recovered.
            await RefreshLapsedHoldsAsync();
            var excluded = new HashSet<string>(StringComparer.Ordinal);
            (string Code, string Reason)? lastRefusal = null;
            for (var attempt = 0; attempt < MaxAttempts; attempt++)
            {
                var decision = Decide(order, excluded);
                if (!decision.Matched)
                {
                    return await NoMatchAsync(bidId, tenantId, order, lastRefusal ?? Describe(decision.Reason), nextReservation, excluded);
                }
                var plan = PlanFor(bidId, tenantId, order, decision, nextReservation++);
                Take(plan);
                var outcome = await RunSagaAsync(plan);
                if (outcome.Confirmed)
                {
                    return await RecordFillAsync(bidId, outcome.Reservation);
                }
                var refusal = (outcome.Reservation.ReasonCode!, outcome.Reservation.Reason!);
                if (outcome.CapacityRefused)
                {
                    await RefreshPoolAsync(plan.PoolId);
                    continue;
                }
                if (FinalFundingRefusals.Contains(refusal.Item1))
                {
                    return await EndBid(bidId, BidState.Rejected, refusal.Item1, refusal.Item2);
                }
                excluded.Add(plan.PoolId);
                lastRefusal = refusal;
            }
            return await NoMatchAsync(bidId, tenantId, order, lastRefusal ?? ("no-capacity", "capacity kept changing; no pool confirmed"),
                nextReservation, excluded);
        }
        catch (Exception e) when (IsTransient(e))
        {
            _toRecover.Add(bidId); // matching stopped part way: recover it from what the database says
            throw new DomainException(ErrorKind.Unavailable, "matching-interrupted",
                $"bid {bidId} was accepted but matching was interrupted; it will be completed shortly");
        }
        finally
        {
            _busyBids.Remove(bidId);
        }
    }

    private async Task<BidView> NoMatchAsync(string bidId, string tenantId, BidOrder order, (string Code, string Reason) why,
        int nextReservation, IEnumerable<string> excluded)
    {
        if (order.TimeInForce == TimeInForce.Ioc)
        {
            return await EndBid(bidId, BidState.Rejected, why.Code, why.Reason);
        }
        if (order.GoodUntil <= _clock.GetUtcNow())
        {
            return await EndBid(bidId, BidState.Expired, "expired", "the bid expired unfilled");
        }
        if (_resting.Count >= _options.MaxRestingBids)
        {
            return await EndBid(bidId, BidState.Rejected, "book-full", "the market holds as many resting bids as it can; try again later");
        }
        var view = await Bid(bidId).MarkResting(why.Code, why.Reason);
        var resting = await AddRestingAsync(bidId, tenantId, order, nextReservation);
        resting.Excluded.UnionWith(excluded);
        return view;
    }

    private async Task<BidView> RecordFillAsync(string bidId, ReservationView reservation)
    {
        try
        {
            var bid = await Bid(bidId).AddFill(FillOf(reservation));
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

    private async Task<Fill?> RematchRemainderAsync(ReservationView interrupted, string failedPoolId)
    {
        var bid = await Bid(interrupted.Plan.BidId).Get();
        var remaining = interrupted.Plan.Hours - interrupted.KeptHours;
        if (bid is null || remaining <= 0)
        {
            return null;
        }
        var firstBookable = Hours.FirstBookable(_clock.GetUtcNow());
        var earliest = Math.Max(firstBookable, interrupted.Plan.StartHour + interrupted.KeptHours);
        var order = bid.Order with
        {
            DurationHours = remaining,
            EarliestStart = Hours.ToTime(earliest),
            LatestStart = Hours.ToTime(earliest + 24),
        };
        var excluded = new HashSet<string>(StringComparer.Ordinal) { failedPoolId };
        var sequence = (await _reservationStore.IdsForBidAsync(bid.Id)).Count + 1;
        for (var attempt = 0; attempt < MaxAttempts; attempt++)
        {
            var decision = Decide(order, excluded);
            if (!decision.Matched)
            {
                return null;
            }
            var plan = PlanFor(bid.Id, bid.TenantId, order, decision, sequence++);
            Take(plan);
            var outcome = await RunSagaAsync(plan);
            if (outcome.Confirmed)
            {
                return FillOf(outcome.Reservation);
            }
            if (outcome.CapacityRefused)
            {
                await RefreshPoolAsync(plan.PoolId);
            }
            else
            {
                excluded.Add(plan.PoolId);
            }
        }
        return null;
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
            var bid = await Bid(bidId).Get();
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
            _busyBids.Remove(bidId);
            if (bid.State == BidState.Resting)
            {
                await AddRestingAsync(bidId, bid.TenantId, bid.Order, reservationIds.Count + 1);
                RematchSoon();
            }
            else
            {
                await MatchNewAsync(bidId, bid.TenantId, bid.Order, reservationIds.Count + 1);
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

    public Task RematchResting() => RematchRestingAsync();

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
    /// earlier one was given.
    /// </summary>
    private async Task RematchRestingAsync()
    {
        if (_rematching)
        {
            _rematchAgain = true;
            return;
        }
        _rematching = true;
        try
        {
            for (var pass = 0; pass < 4; pass++)
            {
                _rematchAgain = false;
                await ExpireDueAsync();
                await RefreshLapsedHoldsAsync();
                var matches = new List<(RestingOrder Order, ReservationPlan Plan)>();
                foreach (var resting in _resting.InPriorityOrder())
                {
                    var order = _orders[resting.BidId];
                    if (_busyBids.Contains(order.BidId))
                    {
                        continue;
                    }
                    var decision = Decide(order.Order, order.Excluded);
                    if (!decision.Matched)
                    {
                        continue;
                    }
                    var plan = PlanFor(order.BidId, order.TenantId, order.Order, decision, order.NextReservation++);
                    Take(plan);
                    _resting.Remove(order.BidId);
                    _busyBids.Add(order.BidId);
                    matches.Add((order, plan));
                }
                if (matches.Count == 0)
                {
                    break;
                }
                _demandChanged = true;
                await Task.WhenAll(matches.Select(m => CompleteRestingMatchAsync(m.Order, m.Plan)));
                if (!_rematchAgain)
                {
                    break;
                }
            }
        }
        finally
        {
            _rematching = false;
        }
    }

    private async Task CompleteRestingMatchAsync(RestingOrder order, ReservationPlan plan)
    {
        var stillResting = true;
        try
        {
            var outcome = await RunSagaAsync(plan);
            if (outcome.Confirmed)
            {
                _orders.Remove(order.BidId);
                stillResting = false;
                await RecordFillAsync(order.BidId, outcome.Reservation);
                return;
            }
            var code = outcome.Reservation.ReasonCode!;
            if (outcome.CapacityRefused)
            {
                await RefreshPoolAsync(plan.PoolId);
                _rematchAgain = true;
            }
            else if (FinalFundingRefusals.Contains(code))
            {
                _orders.Remove(order.BidId);
                stillResting = false;
                await EndBid(order.BidId, BidState.Rejected, code, outcome.Reservation.Reason!);
                return;
            }
            else
            {
                order.Excluded.Add(plan.PoolId);
            }
        }
        catch (Exception e) when (IsTransient(e))
        {
            _logger.LogWarning(e, "Matching resting bid {BidId} was interrupted; recovering it", order.BidId);
            _orders.Remove(order.BidId);
            stillResting = false;
            _toRecover.Add(order.BidId);
        }
        finally
        {
            _busyBids.Remove(order.BidId);
            if (stillResting)
            {
                _resting.Add(new RestingBid(order.BidId, order.Order.MaxFenPerGpuHour, order.Order.GpuCount, order.Sequence, DemandProvince(order)));
            }
        }
    }

    private async Task<RestingOrder> AddRestingAsync(string bidId, string tenantId, BidOrder order, int nextReservation)
    {
        if (order.AllowedProvinces is not { Count: > 0 } && !_tenantProvinces.ContainsKey(tenantId))
        {
            var tenant = await GrainFactory.GetGrain<ITenantGrain>(tenantId).Get();
            _tenantProvinces[tenantId] = tenant?.Registration.Province ?? "Unknown";
        }
        var resting = new RestingOrder(bidId, tenantId, order, ++_sequence, nextReservation);
        _orders[bidId] = resting;
        _resting.Add(new RestingBid(bidId, order.MaxFenPerGpuHour, order.GpuCount, resting.Sequence, DemandProvince(resting)));
        _demandChanged = true;
        return resting;
    }

    private void RemoveResting(string bidId)
    {
        _resting.Remove(bidId);
        _orders.Remove(bidId);
        _demandChanged = true;
    }

    /// <summary>Where unfilled demand shows on the map: the province the bid asks for, else the tenant's own.</summary>
    private string DemandProvince(RestingOrder order) =>
        order.Order.AllowedProvinces is { Count: > 0 } provinces ? provinces[0] : _tenantProvinces.GetValueOrDefault(order.TenantId, "Unknown");

    private Task ReportDemand(CancellationToken cancellationToken)
    {
        var now = _clock.GetUtcNow();
        if (_demandChanged || now - _demandReportedAt >= TimeSpan.FromSeconds(10) || now < _demandReportedAt)
        {
            _demandChanged = false;
            _demandReportedAt = now;
            var demand = _resting.ByProvince().Select(d => new RestingDemand(d.Province, d.Bids, d.Gpus)).ToList();
            GrainFactory.GetGrain<IUtilizationGrain>(0).ReportRestingDemand(Model, demand).Ignore();
        }
        return Task.CompletedTask;
    }

    /// <summary>
    /// Replaces the view of a pool with the pool's own calendar. Sagas still running on it are taken out again unless
    /// the pool says it already holds them, so the view never shows capacity that a running saga is about to use.
    /// </summary>
    /// <summary>
    /// Refreshes the view of each pool whose unconfirmed holds have begun to lapse, so a decision never counts capacity
    /// that a lapsed hold has given back (the pool's own timer tells the market too, but only on its next tick).
    /// </summary>
    private async Task RefreshLapsedHoldsAsync()
    {
        var now = _clock.GetUtcNow();
        var lapsed = _pools.Where(p => p.Value.NextHoldExpiry <= now).Select(p => p.Key).ToList();
        if (lapsed.Count > 0)
        {
            await Task.WhenAll(lapsed.Select(RefreshPoolAsync));
        }
    }

    private async Task RefreshPoolAsync(string poolId)
    {
        var asked = _pools.TryGetValue(poolId, out var known) ? known.InFlight.Keys.ToList() : [];
        var snapshot = await Pool(poolId).GetSnapshot(asked);
        if (snapshot is null || snapshot.Spec.GpuModel != Model)
        {
            return;
        }
        if (!_pools.TryGetValue(poolId, out var entry))
        {
            entry = _pools[poolId] = new PoolEntry(snapshot.Spec);
        }
        if (snapshot.Version < entry.Version)
        {
            return; // an older answer overtaken by a newer one
        }
        entry.Spec = snapshot.Spec;
        entry.Version = snapshot.Version;
        entry.NextHoldExpiry = snapshot.NextHoldExpiry;
        var calendar = snapshot.Calendar;
        var free = new int[calendar.Capacity.Length];
        for (var i = 0; i < free.Length; i++)
        {
            free[i] = calendar.Capacity[i] - calendar.Used[i];
        }
        var book = new PoolBook(poolId, snapshot.Spec.Site.Province, snapshot.AskFenPerGpuHour, snapshot.GpuCount, calendar.StartHour,
            (int[])calendar.Capacity.Clone(), free);
        foreach (var plan in entry.InFlight.Values.Where(p => !snapshot.HeldReservationIds.Contains(p.ReservationId)))
        {
            book.Take(plan.StartHour, plan.Hours, plan.Gpus);
        }
        _ladder.Put(book);
    }

    // ---- Helpers -----------------------------------------------------------------------------------------------

    private static Fill FillOf(ReservationView r)
    {
        var kept = r.KeptHours;
        var cost = Money.Cost(r.Plan.FenPerGpuHour, r.Plan.Gpus, kept);
        var voucher = Money.Prorate(r.VoucherFen, kept, r.Plan.Hours);
        return new Fill(r.Id, r.Plan.PoolId, r.Plan.ProviderId, r.Plan.Province, r.Plan.SiteId, r.Plan.StartsAt, r.EndsAt, r.Plan.Gpus,
            r.Plan.FenPerGpuHour, cost, voucher, cost - voucher);
    }

    private static (string Code, string Reason) Describe(NoMatchReason reason) => reason switch
    {
        NoMatchReason.NoPools => ("no-pools", "no pool of this GPU model is listed yet"),
        NoMatchReason.OutsideHorizon => ("outside-horizon", "no start in the requested window lies inside the booking horizon"),
        NoMatchReason.NoPoolInProvinces => ("no-pool-in-provinces", "no pool of this GPU model is listed in the allowed provinces"),
        NoMatchReason.GangTooLarge => ("gang-too-large", "no single pool has that many GPUs of this model"),
        NoMatchReason.PriceAboveLimit => ("price-above-limit", "capacity is free only at asks above the bid's limit"),
        _ => ("no-capacity", "no pool has the GPUs free for the whole duration in the start window"),
    };

    private void RequireModel(string model)
    {
        if (model != Model)
        {
            throw DomainException.Rule("wrong-market", $"this is the {Model} market, not {model}", "gpuModel");
        }
    }

    private IBidGrain Bid(string id) => GrainFactory.GetGrain<IBidGrain>(id);

    /// <summary>Ends a bid (rejected, expired or cancelled) and counts why.</summary>
    private Task<BidView> EndBid(string bidId, BidState state, string code, string reason)
    {
        MarketMetrics.BidsEnded.Add(1, new KeyValuePair<string, object?>("state", state.ToString()), new KeyValuePair<string, object?>("reason", code));
        return Bid(bidId).End(state, code, reason);
    }

    private IReservationGrain Reservation(string id) => GrainFactory.GetGrain<IReservationGrain>(id);

    private IGpuPoolGrain Pool(string id) => GrainFactory.GetGrain<IGpuPoolGrain>(id);
}
