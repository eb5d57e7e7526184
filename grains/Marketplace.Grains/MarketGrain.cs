using Marketplace.Storage;
using Marketplace.Matching;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace Marketplace.Grains;

/// <summary>
/// The market for one GPU model (rules 4–6), and the single writer of its fills. The grain takes the requests and keeps
/// the market's timers; the work is done by its parts: <see cref="MarketMatcher"/> decides in one turn against the
/// market's view of every pool, only on pools a bid's voucher can pay, and writes each fill through
/// <see cref="MarketWriter"/> (one statement per fill, the fills queued together sharing one commit, fenced by the
/// epoch taken on activation); <see cref="RestingPass"/> matches resting bids in priority order; <see cref="MarketRecovery"/>
/// completes what a crash, a cancel or an outage cut short; <see cref="MarketQuotes"/> says what the market would do.
/// Nothing is answered or pushed before its commit. The market rebuilds from the stored pools, holds and bids.
/// </summary>
[Reentrant]
public sealed class MarketGrain : Grain, IMarketGrain
{
    private readonly PoolStore _poolStore;
    private readonly MarketWriter _writes;
    private readonly MarketOptions _options;
    private readonly MarketLimits _limits;
    private readonly TimeProvider _clock;

    private readonly RestingOrders _resting;
    private readonly MarketTerms _terms;
    private readonly MarketMatcher _matcher;
    private readonly RestingPass _passes;
    private readonly MarketQuotes _quotes;
    private readonly MarketRecovery _recovery;
    /// <summary>New bids being placed, so a repeat of the request that arrives meanwhile waits for the same answer.</summary>
    private readonly Dictionary<string, (string OrderHash, Task<BidView> Answer)> _placing = new(StringComparer.Ordinal);

    public MarketGrain(PoolStore poolStore, BidStore bidStore, ReservationStore reservationStore, MarketStore marketStore, VoucherStore voucherStore,
        CommitBatcher writer, SagaFaults faults, IOptions<MarketOptions> options, IOptions<MarketLimits> limits,
        [FromKeyedServices(Names.ClockKeys.Market)] TimeProvider clock, TimeProvider timer, ILogger<MarketGrain> logger)
    {
        _poolStore = poolStore;
        _options = options.Value;
        _limits = limits.Value;
        _clock = clock;
        var model = this.GetPrimaryKeyString();
        _writes = new MarketWriter(model, marketStore, bidStore, voucherStore, writer, faults, _limits, clock, GrainFactory, logger, DeactivateOnIdle);
        _resting = new RestingOrders(GrainFactory);
        _terms = new MarketTerms(GrainFactory, clock);
        _matcher = new MarketMatcher(model, _resting, _terms, _writes, marketStore, _options, _limits, clock, timer, GrainFactory, logger,
            () => this.AsReference<IMarketGrain>().RematchResting().Ignore());
        _passes = new RestingPass(_resting, _terms, _matcher, _writes, clock, logger);
        _quotes = new MarketQuotes(_matcher, _limits, GrainFactory);
        _recovery = new MarketRecovery(model, _matcher, _resting, _writes, bidStore, reservationStore, clock, GrainFactory, logger);
    }

    private string Model => this.GetPrimaryKeyString();

    private MarketView View => _matcher.View;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // First of all, so that the reads below see every fill an older activation had in flight.
        await _writes.TakeEpochAsync(cancellationToken);
        _matcher.Routing = (await GrainFactory.GetGrain<IRoutingGrain>(0).Get()).ToPreference();
        var poolIds = await _poolStore.PoolIdsForModelAsync(Model, cancellationToken);
        await Task.WhenAll(poolIds.Select(_matcher.RefreshPoolAsync));
        await _recovery.LoadOpenBidsAsync(cancellationToken);

        this.RegisterGrainTimer(HousekeepingAsync, new GrainTimerCreationOptions(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30)) { Interleave = true });
        this.RegisterGrainTimer(ReportDemand, new GrainTimerCreationOptions(_options.PushInterval, _options.PushInterval) { Interleave = true });
    }

    // ---- Bids --------------------------------------------------------------------------------------------------

    public async Task<BidView> PlaceBid(BidSubmission submission)
    {
        RequireModel(submission.Order.GpuModel);
        _writes.RequireCurrent();
        if (_placing.TryGetValue(submission.BidId, out var placing))
        {
            // The same request again while the first is being matched: the same answer, once it is durable.
            return placing.OrderHash == submission.OrderHash
                ? await placing.Answer
                : throw new DomainException(ErrorKind.Rule, "idempotency-key-reused", "this idempotency key was already used for a different bid");
        }
        if (_resting.Holds(submission.BidId) || _matcher.Busy.Contains(submission.BidId))
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
            var view = await _matcher.MatchNewAsync(order);
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
        return await _quotes.QuoteAsync(tenantId, order);
    }

    public Task<BidView> CancelBid(string bidId, string tenantId) => _recovery.CancelBidAsync(bidId, tenantId);

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
        await _matcher.RefreshPoolAsync(view.Plan.PoolId);
        await _passes.RunAsync();
        TellComputeBids();
        return cancelled;
    }

    public Task<OrderBook> GetBook()
    {
        var firstBookable = Hours.FirstBookable(_clock.GetUtcNow());
        var bids = _resting.Levels();
        var asks = View.Ladder.Select(p => new AskLevel(p.PoolId, p.Province, p.AskFenPerGpuHour, p.GpuCount,
            p.FreeGpuHours(firstBookable), p.UtilizationBasisPoints(firstBookable, firstBookable + 24))).ToList();
        return Task.FromResult(new OrderBook(Model, bids, asks, _clock.GetUtcNow()));
    }

    /// <summary>
    /// Rule 3: a notice changed what the vouchers of a program can pay; resting bids read their vouchers' terms again,
    /// try again pools they had left out, and are matched against whatever the notice made payable.
    /// </summary>
    public async Task ApprovalsChanged(string programId)
    {
        _terms.Forget(_resting.Orders);
        await _passes.RunAsync();
    }

    public async Task RoutingChanged(RoutingPolicy policy)
    {
        _matcher.Routing = policy.ToPreference();
        await _passes.RunAsync();
    }

    // ---- Pools -------------------------------------------------------------------------------------------------

    public async Task<PoolView> ListPool(PoolSpec spec)
    {
        RequireModel(spec.GpuModel);
        var view = await Pool(spec.PoolId).Initialize(spec);
        await _matcher.RefreshPoolAsync(spec.PoolId);
        await _passes.RunAsync();
        TellComputeBids();
        return view;
    }

    public async Task<PoolView> ChangePool(string poolId, PoolChange change)
    {
        var view = await Pool(poolId).Change(change);
        await _matcher.RefreshPoolAsync(poolId);
        await _passes.RunAsync();
        TellComputeBids();
        return view;
    }

    public async Task SuspendPool(string poolId, string? because)
    {
        if (await Pool(poolId).Suspend(because))
        {
            await _matcher.RefreshPoolAsync(poolId);
            if (because is null)
            {
                await _passes.RunAsync();
                TellComputeBids();
            }
        }
    }

    public async Task PoolReliabilityChanged(string poolId, int? scoreBasisPoints)
    {
        if (await Pool(poolId).SetReliability(scoreBasisPoints))
        {
            await _matcher.RefreshPoolAsync(poolId);
            await _passes.RunAsync(); // a bid that required more may now fill there
        }
    }

    public async Task CapacityChanged(string poolId)
    {
        await _matcher.RefreshPoolAsync(poolId);
        _matcher.RematchSoon();
        TellComputeBids();
    }

    // ---- Time ------------------------------------------------------------------------------------------------

    public async Task Sweep()
    {
        await Task.WhenAll(View.PoolIds.ToList().Select(_matcher.RefreshPoolAsync));
        if (_terms.DueForRefresh)
        {
            _terms.Forget(_resting.Orders); // vouchers change on their own too (spent, expired): read them again now and then
        }
        _matcher.Routing = (await GrainFactory.GetGrain<IRoutingGrain>(0).Get()).ToPreference(); // in case a change did not reach this market
        await _passes.ExpireDueAsync();
        await _recovery.RecoverAllAsync();
        await _passes.RunAsync();
        TellComputeBids(); // also lets resting compute bids expire
    }

    private Task HousekeepingAsync(CancellationToken cancellationToken) => Sweep();

    /// <summary>
    /// Rule 6: takes the capacity out, interrupts the reservations it hits and re-matches what is left of each elsewhere
    /// when it can (<see cref="MarketRecovery.InterruptAsync"/>).
    /// </summary>
    public async Task<OutageReport> DeclareOutage(string poolId, Outage outage)
    {
        var effect = await Pool(poolId).AddOutage(outage);
        await _matcher.RefreshPoolAsync(poolId);
        var report = await _recovery.InterruptAsync(poolId, outage, effect);
        await _matcher.RefreshPoolAsync(poolId);
        return report;
    }

    /// <summary>A one-way nudge (a fill failed, capacity appeared): asks for another pass but never waits for one.</summary>
    public Task RematchResting() => _passes.Nudge();

    private Task ReportDemand(CancellationToken cancellationToken)
    {
        _resting.ReportDemand(Model, _clock.GetUtcNow());
        return Task.CompletedTask;
    }

    // ---- Helpers -----------------------------------------------------------------------------------------------

    /// <summary>
    /// Tells the resting compute bids (rule 9) that this market's capacity may have grown, after this market's own resting
    /// bids had their turn. One way: the compute bids place their bids in the markets, so a market never waits on them.
    /// </summary>
    private void TellComputeBids() => GrainFactory.GetGrain<IComputeBookGrain>(0).CapacityMayHaveGrown(Model).Ignore();

    private void RequireModel(string model)
    {
        if (model != Model)
        {
            throw DomainException.Rule("wrong-market", $"this is the {Model} market, not {model}", "gpuModel");
        }
    }

    private IBidGrain Bid(string id) => GrainFactory.GetGrain<IBidGrain>(id);

    private IReservationGrain Reservation(string id) => GrainFactory.GetGrain<IReservationGrain>(id);

    private IGpuPoolGrain Pool(string id) => GrainFactory.GetGrain<IGpuPoolGrain>(id);
}
