using System.Globalization;
using Marketplace.Data;
using Marketplace.Testing;
using Xunit;

namespace Marketplace.Grains.Tests;

/// <summary>DESIGN rules 4–8 on the market side, against a real cluster and database.</summary>
[Collection(MarketCollection.Name)]
public sealed class MarketRuleTests(MarketTestCluster cluster)
{
    private readonly Scenario _s = new(cluster);

    private IGpuPoolGrain Pool(string id) => cluster.Grains.GetGrain<IGpuPoolGrain>(id);

    private static string Model() => GpuModels.Known[Random.Shared.Next(GpuModels.Known.Count)];

    private static int _nextProvince;

    /// <summary>Markets are shared by the tests of the collection: each test lists pools and bids in a province of its own.</summary>
    private static string Province() =>
        Provinces.ChineseNames.Keys.ElementAt(Interlocked.Increment(ref _nextProvince) % Provinces.ChineseNames.Count);

    [Fact]
    public async Task Rule4_no_hour_of_a_pool_is_ever_sold_beyond_its_gpu_count()
    {
        var province = Province();
        var pool = await _s.ProviderWithPool(province, "L40S-48G", gpus: 4);
        var (tenant, _) = await _s.Tenant();

        var bids = await Task.WhenAll(Enumerable.Range(0, 24).Select(_ =>
            _s.Bid(tenant, _s.Order(gpus: 1, hours: 3, startInHours: 2, model: "L40S-48G", provinces: [province]))));

        Assert.Equal(4, bids.Count(b => b.State == BidState.Filled));
        Assert.All(bids.Where(b => b.State != BidState.Filled), b => Assert.Equal(("Rejected", "no-capacity"), (b.State.ToString(), b.ReasonCode)));
        var view = (await _s.PoolView(pool.Id))!;
        var start = (int)(Hours.Floor(_s.Now) + 2 - view.Calendar.StartHour);
        Assert.Equal([4, 4, 4], view.Calendar.Used.Skip(start).Take(3));
        await LedgerAssert.Clean(cluster.Database, _s.Now);
    }

    [Fact]
    public async Task Rule4_an_unconfirmed_hold_expires_and_its_capacity_returns()
    {
        var pool = await _s.ProviderWithPool(Province(), gpus: 2);
        var start = Hours.Floor(_s.Now) + 3;
        var hold = new HoldRequest(Scenario.Unique("res"), start, 2, 2, pool.AskFenPerGpuHour, TimeSpan.FromSeconds(30));

        Assert.True((await Pool(pool.Id).Hold(hold)).Accepted);
        Assert.Equal(HoldOutcome.Ok, await Pool(pool.Id).Hold(hold)); // the same hold again: idempotent
        Assert.Equal("no-capacity", (await Pool(pool.Id).Hold(hold with { ReservationId = Scenario.Unique("res"), Gpus = 1 })).RefusalCode);
        Assert.Equal("hold-conflict", (await Pool(pool.Id).Hold(hold with { Gpus = 1 })).RefusalCode);

        cluster.Advance(TimeSpan.FromSeconds(31));
        Assert.Equal("hold-expired", (await Pool(pool.Id).Confirm(hold.ReservationId)).RefusalCode);
        Assert.True((await Pool(pool.Id).Hold(hold with { ReservationId = Scenario.Unique("res") })).Accepted);
    }

    /// <summary>
    /// A change of ask and GPU count is checked whole before any of it is made: the ask of a change refused for its GPU
    /// count used to stay in the pool's memory and be written with the pool's next write.
    /// </summary>
    [Fact]
    public async Task Rule4_a_refused_pool_change_leaves_the_pool_as_it_was()
    {
        var province = Province();
        var pool = await _s.ProviderWithPool(province, "A800-80G", gpus: 4, ask: 1_500);
        var (tenant, _) = await _s.Tenant();
        var bid = await _s.Bid(tenant, _s.Order(gpus: 4, hours: 2, startInHours: 2, maxPrice: 1_500, model: "A800-80G", provinces: [province]));
        Assert.Equal(BidState.Filled, bid.State);

        var refused = await Assert.ThrowsAsync<DomainException>(() => Pool(pool.Id).Change(new PoolChange(900, 2)));
        Assert.Equal("capacity-below-booked", refused.Code);

        var grown = await Pool(pool.Id).Change(new PoolChange(null, 6));
        Assert.Equal((1_500L, 6), (grown.AskFenPerGpuHour, grown.GpuCount));
    }

    /// <summary>
    /// The market decides from its view of each pool. A view taken while an unconfirmed hold stood used to count that
    /// capacity as taken after the hold had lapsed, until the pool's timer next told the market: a bid in between was
    /// rejected with no-capacity though the hours were free.
    /// </summary>
    [Fact]
    public async Task Rule4_capacity_a_lapsed_hold_gives_back_is_sold_to_the_next_bid_at_once()
    {
        var province = Province();
        var pool = await _s.ProviderWithPool(province, "H20-96G", gpus: 2);
        var order = _s.Order(gpus: 2, hours: 2, startInHours: 4, maxPrice: pool.AskFenPerGpuHour, model: "H20-96G", provinces: [province]);
        var (tenant, _) = await _s.Tenant();
        var hold = new HoldRequest(Scenario.Unique("res"), Hours.Floor(order.EarliestStart), 2, 2, pool.AskFenPerGpuHour, TimeSpan.FromSeconds(30));
        Assert.True((await Pool(pool.Id).Hold(hold)).Accepted);
        await cluster.Grains.GetGrain<IMarketGrain>("H20-96G").Sweep(); // the market's view now shows the hold

        // The bid comes at once: nothing else (the pool's own timer) is given the time to tell the market first.
        cluster.Advance(TimeSpan.FromSeconds(31));
        var bid = await _s.Bid(tenant, order);

        Assert.Equal((BidState.Filled, null), (bid.State, bid.ReasonCode));
    }

    [Fact]
    public async Task Rule4_confirm_and_release_are_idempotent_and_release_can_give_back_part_of_a_hold()
    {
        var pool = await _s.ProviderWithPool(Province(), gpus: 2);
        var start = Hours.Floor(_s.Now) + 3;
        var hold = new HoldRequest(Scenario.Unique("res"), start, 4, 2, pool.AskFenPerGpuHour, TimeSpan.FromSeconds(30));
        await Pool(pool.Id).Hold(hold);
        Assert.True((await Pool(pool.Id).Confirm(hold.ReservationId)).Accepted);
        Assert.True((await Pool(pool.Id).Confirm(hold.ReservationId)).Accepted);

        await Pool(pool.Id).Release(hold.ReservationId, start + 1);
        await Pool(pool.Id).Release(hold.ReservationId, start + 1);
        var used = (await _s.PoolView(pool.Id))!.Calendar;
        var at = (int)(start - used.StartHour);
        Assert.Equal([2, 0, 0, 0], used.Used.Skip(at).Take(4));

        await Pool(pool.Id).Release(hold.ReservationId, null);
        Assert.Equal(0, (await _s.PoolView(pool.Id))!.Calendar.Used.Sum());
    }

    [Fact]
    public async Task Rule5_among_equal_asks_work_goes_to_the_idle_site()
    {
        // Beijing and Gansu pools at the same price; Beijing 90% booked over the window, Gansu 10%.
        var model = "A800-80G";
        var (beijingProvider, _) = await _s.Provider([Scenario.Site("Beijing")]);
        var (gansuProvider, _) = await _s.Provider([Scenario.Site("Gansu")]);
        var beijing = await _s.Pool(beijingProvider, model, gpus: 10, ask: 3_333);
        var gansu = await _s.Pool(gansuProvider, model, gpus: 10, ask: 3_333);
        var (tenant, _) = await _s.Tenant();
        var window = _s.Order(gpus: 9, hours: 4, maxPrice: 3_333, startInHours: 5, model: model, provinces: ["Beijing"]);
        Assert.Equal(beijing.Id, (await _s.Bid(tenant, window)).Fills.Single().PoolId);
        Assert.Equal(gansu.Id, (await _s.Bid(tenant, window with { GpuCount = 1, AllowedProvinces = ["Gansu"] })).Fills.Single().PoolId);

        var open = await _s.Bid(tenant, window with { GpuCount = 1, AllowedProvinces = ["Beijing", "Gansu"] });
        Assert.Equal(gansu.Id, open.Fills.Single().PoolId);
    }

    [Fact]
    public async Task Rule5_the_buyer_pays_the_ask_and_an_ioc_bid_without_a_match_is_rejected_with_the_reason()
    {
        var province = Province();
        var pool = await _s.ProviderWithPool(province, "RTX4090-24G", gpus: 2, ask: 400);
        var (tenant, _) = await _s.Tenant();

        var filled = await _s.Bid(tenant, _s.Order(gpus: 2, hours: 3, maxPrice: 900, model: "RTX4090-24G", provinces: [province]));
        var fill = filled.Fills.Single();
        Assert.Equal((400L, 2_400L), (fill.FenPerGpuHour, fill.CostFen));

        var tooCheap = await _s.Bid(tenant, _s.Order(gpus: 1, maxPrice: 399, startInHours: 10, model: "RTX4090-24G", provinces: [province]));
        Assert.Equal((BidState.Rejected, "price-above-limit"), (tooCheap.State, tooCheap.ReasonCode));
        var tooBig = await _s.Bid(tenant, _s.Order(gpus: 3, maxPrice: 900, startInHours: 10, model: "RTX4090-24G", provinces: [province]));
        Assert.Equal((BidState.Rejected, "gang-too-large"), (tooBig.State, tooBig.ReasonCode));
        Assert.Equal(pool.Id, fill.PoolId);
    }

    [Fact]
    public async Task Rule5_resting_bids_fill_in_price_time_priority_when_a_pool_appears()
    {
        var province = Province();
        var (provider, _) = await _s.Provider([Scenario.Site(province)]);
        var (tenant, _) = await _s.Tenant();
        var order = _s.Order(gpus: 4, hours: 2, startInHours: 3, tif: TimeInForce.Gtc, model: "H20-96G", provinces: [province]);

        var first = await _s.Bid(tenant, order with { MaxFenPerGpuHour = 1_000 });
        var highLate = await _s.Bid(tenant, order with { MaxFenPerGpuHour = 2_000 });
        var highLater = await _s.Bid(tenant, order with { MaxFenPerGpuHour = 2_000 });
        Assert.All([first, highLate, highLater], b => Assert.Equal(BidState.Resting, b.State));

        // Room for one 4-GPU gang in the window: the earliest of the highest limits gets it.
        await _s.Pool(provider, "H20-96G", gpus: 4, ask: 900);
        var bids = await Task.WhenAll(new[] { first, highLate, highLater }.Select(b => cluster.Grains.GetGrain<IBidGrain>(b.Id).Get()));
        Assert.Equal([BidState.Resting, BidState.Filled, BidState.Resting], bids.Select(b => b!.State));
        Assert.Equal(900, bids[1]!.Fills.Single().FenPerGpuHour);
    }

    [Fact]
    public async Task Rule5_a_resting_bid_fills_after_a_cancellation_and_after_a_price_cut()
    {
        var province = Province();
        var pool = await _s.ProviderWithPool(province, "Ascend910B-64G", gpus: 1, ask: 700);
        var (tenant, _) = await _s.Tenant();
        var order = _s.Order(gpus: 1, hours: 2, startInHours: 4, model: "Ascend910B-64G", provinces: [province], maxPrice: 800);
        var holder = await _s.Bid(tenant, order);
        var waiting = await _s.Bid(tenant, order with { TimeInForce = TimeInForce.Gtc, GoodUntil = _s.Now.AddDays(1) });
        Assert.Equal(BidState.Resting, waiting.State);

        await cluster.Grains.GetGrain<IMarketGrain>("Ascend910B-64G").CancelReservation(holder.Fills.Single().ReservationId, tenant);
        Assert.Equal(BidState.Filled, (await cluster.Grains.GetGrain<IBidGrain>(waiting.Id).Get())!.State);

        var cheap = await _s.Bid(tenant, order with { MaxFenPerGpuHour = 500, EarliestStart = order.EarliestStart.AddHours(5), LatestStart = order.EarliestStart.AddHours(5),
            TimeInForce = TimeInForce.Gtc, GoodUntil = _s.Now.AddDays(1) });
        Assert.Equal((BidState.Resting, "price-above-limit"), (cheap.State, cheap.ReasonCode));
        await cluster.Grains.GetGrain<IProviderGrain>(pool.ProviderId).ChangePool(pool.Id, new PoolChange(450, null));
        var filled = (await cluster.Grains.GetGrain<IBidGrain>(cheap.Id).Get())!;
        Assert.Equal((BidState.Filled, 450L), (filled.State, filled.Fills.Single().FenPerGpuHour));
    }

    [Fact]
    public async Task Rule5_a_gtc_bid_expires_unfilled_at_its_time_and_can_be_cancelled_before()
    {
        var (tenant, _) = await _s.Tenant();
        var order = _s.Order(gpus: 1, model: "H800-80G", provinces: [Province()], tif: TimeInForce.Gtc, goodFor: TimeSpan.FromHours(2));
        var expiring = await _s.Bid(tenant, order);
        var cancelled = await _s.Bid(tenant, order);
        Assert.Equal(BidState.Resting, expiring.State);

        Assert.Equal(BidState.Cancelled, (await cluster.Grains.GetGrain<IMarketGrain>("H800-80G").CancelBid(cancelled.Id, tenant)).State);
        var (stranger, _) = await _s.Tenant();
        await Assert.ThrowsAsync<DomainException>(() => cluster.Grains.GetGrain<IMarketGrain>("H800-80G").CancelBid(expiring.Id, stranger));

        cluster.Advance(TimeSpan.FromHours(2));
        await cluster.Grains.GetGrain<ISweeperGrain>(0).Tick();
        var expired = (await cluster.Grains.GetGrain<IBidGrain>(expiring.Id).Get())!;
        Assert.Equal((BidState.Expired, "expired"), (expired.State, expired.ReasonCode));
    }

    [Fact]
    public async Task Rule5_a_quote_prices_the_bid_and_the_book_shows_levels_without_identities()
    {
        var province = Province();
        var program = await _s.Program(d => d with { CoverageBasisPoints = 8_000 });
        var pool = await _s.ProviderWithPool(province, "H20-96G", gpus: 8, ask: 1_000);
        await _s.Approve(program, pool.ProviderId);
        var (tenant, _) = await _s.Tenant();
        var voucher = await _s.ActiveVoucher(program, tenant);

        var quote = await cluster.Grains.GetGrain<IMarketGrain>("H20-96G").Quote(tenant,
            _s.Order(gpus: 2, hours: 5, model: "H20-96G", provinces: [province], voucherId: voucher.Id));
        Assert.Equal((true, pool.Id, 1_000L, 10_000L, 8_000L, 2_000L), (quote.Available, quote.PoolId, quote.FenPerGpuHour!.Value, quote.CostFen, quote.VoucherFen, quote.CashFen));
        Assert.Equal(0, (await _s.Voucher(voucher.Id))!.HeldFen); // a quote commits nothing

        await _s.Bid(tenant, _s.Order(gpus: 3, model: "H20-96G", maxPrice: 10, provinces: [province], tif: TimeInForce.Gtc));
        var book = await cluster.Grains.GetGrain<IMarketGrain>("H20-96G").GetBook();
        Assert.Contains(book.Bids, level => level.FenPerGpuHour == 10 && level.Gpus >= 3);
        Assert.Contains(book.Asks, ask => ask.PoolId == pool.Id && ask.FenPerGpuHour == 1_000);
    }

    [Fact]
    public async Task Rule3_a_voucher_funded_bid_skips_a_cheaper_pool_the_program_has_not_approved()
    {
        var province = Province();
        var program = await _s.Program(d => d with { CoverageBasisPoints = 8_000 });
        var (cheapProvider, _) = await _s.Provider([Scenario.Site(province)]);
        var (approvedProvider, _) = await _s.Provider([Scenario.Site(province)]);
        await _s.Pool(cheapProvider, "L40S-48G", gpus: 2, ask: 100);
        var approvedPool = await _s.Pool(approvedProvider, "L40S-48G", gpus: 2, ask: 200);
        await _s.Approve(program, approvedProvider);
        var (tenant, _) = await _s.Tenant();
        var voucher = await _s.ActiveVoucher(program, tenant);

        var bid = await _s.Bid(tenant, _s.Order(gpus: 1, hours: 5, maxPrice: 300, model: "L40S-48G", provinces: [province], voucherId: voucher.Id));
        var fill = bid.Fills.Single();
        Assert.Equal((approvedPool.Id, 1_000L, 800L, 200L), (fill.PoolId, fill.CostFen, fill.VoucherFen, fill.CashFen));
        Assert.Equal(800, (await _s.Voucher(voucher.Id))!.HeldFen);
        await LedgerAssert.Clean(cluster.Database, _s.Now);
    }

    /// <summary>
    /// Hardening issue 17: the market knows each pool's provider's reliability. After an outage takes 16 of the 128
    /// GPU-hours booked on provider A (87.5 %), a bid that requires 90 % passes over A's cheaper pool and fills at B's
    /// (100 %), the fill and the quote say so, and without a minimum the bid fills at A as before.
    /// </summary>
    [Fact]
    public async Task Rule5_a_bid_with_a_minimum_reliability_fills_only_at_providers_that_meet_it()
    {
        const string model = "Ascend910B-64G";
        var province = Province();
        var (providerA, _) = await _s.Provider([Scenario.Site(province)]);
        var (providerB, _) = await _s.Provider([Scenario.Site(province, "site-2")]);
        var poolA = await _s.Pool(providerA, model, gpus: 8, ask: 1_000);
        var poolB = await _s.Pool(providerB, model, gpus: 8, ask: 1_200, siteId: "site-2");
        var (tenant, _) = await _s.Tenant();
        var market = cluster.Grains.GetGrain<IMarketGrain>(model);

        var onA = (await _s.Bid(tenant, _s.Order(gpus: 8, hours: 16, startInHours: 2, maxPrice: 1_000, model: model, provinces: [province]))).Fills.Single();
        var onB = (await _s.Bid(tenant, _s.Order(gpus: 8, hours: 16, startInHours: 2, maxPrice: 1_200, model: model, provinces: [province]))).Fills.Single();
        Assert.Equal((poolA.Id, poolB.Id), (onA.PoolId, onB.PoolId));
        Assert.Equal((null, null), (onA.ProviderReliabilityBasisPoints, onB.ProviderReliabilityBasisPoints)); // both new then

        // A settlement of B's tells B's pools its record; an outage on A's last two hours tells A's.
        await cluster.Grains.GetGrain<IProviderGrain>(providerB).RecordChanged();
        var outage = new Outage(Scenario.Unique("outage"), onA.StartsAt.AddHours(14), onA.StartsAt.AddHours(20), "power");
        await cluster.Grains.GetGrain<IProviderGrain>(providerA).DeclareOutage(new OutageRequest(poolA.Id, null, outage));

        var demanding = _s.Order(gpus: 1, hours: 2, startInHours: 30, maxPrice: 1_200, model: model, provinces: [province]) with { MinReliabilityBasisPoints = 9_000 };
        var quote = await market.Quote(tenant, demanding);
        Assert.Equal((poolB.Id, 1_200L, (int?)10_000), (quote.PoolId, quote.FenPerGpuHour, quote.ProviderReliabilityBasisPoints));
        var filled = (await _s.Bid(tenant, demanding)).Fills.Single();
        Assert.Equal((poolB.Id, 1_200L, (int?)10_000), (filled.PoolId, filled.FenPerGpuHour, filled.ProviderReliabilityBasisPoints));
        Assert.Equal(10_000, (await _s.Reservation(filled.ReservationId))!.Plan.ProviderReliabilityBasisPoints);

        var anyone = (await _s.Bid(tenant, demanding with { MinReliabilityBasisPoints = null })).Fills.Single();
        Assert.Equal((poolA.Id, 1_000L, (int?)8_750), (anyone.PoolId, anyone.FenPerGpuHour, anyone.ProviderReliabilityBasisPoints));

        var refused = await _s.Bid(tenant, demanding with { MaxFenPerGpuHour = 1_000 });
        Assert.Equal((BidState.Rejected, "below-reliability"), (refused.State, refused.ReasonCode));
        Assert.Equal((false, "below-reliability"), ((await market.Quote(tenant, demanding with { MaxFenPerGpuHour = 1_000 })).Available,
            (await market.Quote(tenant, demanding with { MaxFenPerGpuHour = 1_000 })).ReasonCode));
    }

    [Fact]
    public async Task Rule5_a_settlement_gives_the_market_its_providers_new_score()
    {
        const string model = "Ascend910B-64G";
        var province = Province();
        var (provider, _) = await _s.Provider([Scenario.Site(province)]);
        var pool = await _s.Pool(provider, model, gpus: 8, ask: 1_000);
        var (tenant, _) = await _s.Tenant();
        var market = cluster.Grains.GetGrain<IMarketGrain>(model);
        var sweeper = cluster.Grains.GetGrain<ISweeperGrain>(0);
        var first = (await _s.Bid(tenant, _s.Order(gpus: 8, hours: 16, startInHours: 2, maxPrice: 1_000, model: model, provinces: [province]))).Fills.Single();
        var outage = new Outage(Scenario.Unique("outage"), first.StartsAt.AddHours(14), first.StartsAt.AddHours(20), "power");
        await cluster.Grains.GetGrain<IProviderGrain>(provider).DeclareOutage(new OutageRequest(pool.Id, null, outage));
        var probe = _s.Order(gpus: 1, hours: 1, startInHours: 60, maxPrice: 1_000, model: model, provinces: [province]);
        Assert.Equal(8_750, (await market.Quote(tenant, probe)).ProviderReliabilityBasisPoints); // 112 of 128 GPU-hours

        // Another 128 GPU-hours, delivered in full and settled: 240 of 256.
        var second = (await _s.Bid(tenant, _s.Order(gpus: 8, hours: 16, startInHours: 30, maxPrice: 1_000, model: model, provinces: [province]))).Fills.Single();
        cluster.Advance(second.StartsAt - _s.Now);
        await sweeper.Tick();
        cluster.Advance(second.EndsAt - _s.Now);
        await sweeper.Tick();
        Assert.Equal(ReservationState.Completed, (await _s.Reservation(second.ReservationId))!.State);

        // The settlement tells the provider one way, after it has answered: the market hears of it a moment later.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        int? seen;
        while ((seen = (await market.Quote(tenant, probe)).ProviderReliabilityBasisPoints) != 9_375 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }
        Assert.Equal(9_375, seen);
    }

    [Fact]
    public async Task Rule6_an_outage_interrupts_reservations_and_rematches_the_rest_elsewhere_charging_vouchers_only_for_time_used()
    {
        var province = Province();
        var program = await _s.Program(d => d with { CoverageBasisPoints = 5_000 });
        var (providerA, _) = await _s.Provider([Scenario.Site(province)]);
        var (providerB, _) = await _s.Provider([Scenario.Site(province, "site-2")]);
        var poolA = await _s.Pool(providerA, "Ascend910B-64G", gpus: 4, ask: 1_000);
        await _s.Approve(program, providerA);
        await _s.Approve(program, providerB);
        var (tenant, _) = await _s.Tenant();
        var voucher = await _s.ActiveVoucher(program, tenant);

        // Four hours starting next hour; the pool fails after its second hour.
        var bid = await _s.Bid(tenant, _s.Order(gpus: 4, hours: 4, maxPrice: 1_500, model: "Ascend910B-64G", provinces: [province], voucherId: voucher.Id));
        var original = bid.Fills.Single();
        Assert.Equal(poolA.Id, original.PoolId);
        var poolB = await _s.Pool(providerB, "Ascend910B-64G", gpus: 4, ask: 1_200, siteId: "site-2");

        cluster.Advance(original.StartsAt.AddHours(2) - _s.Now); // 2 hours into the reservation
        await cluster.Grains.GetGrain<ISweeperGrain>(0).Tick();
        Assert.Equal(ReservationState.Active, (await _s.Reservation(original.ReservationId))!.State);

        var outage = new Outage("power-1", _s.Now, _s.Now.AddHours(6), "power failure");
        var report = await cluster.Grains.GetGrain<IProviderGrain>(providerA).DeclareOutage(new OutageRequest(poolA.Id, null, outage));
        Assert.Equal([original.ReservationId], report.InterruptedReservationIds);

        var interrupted = (await _s.Reservation(original.ReservationId))!;
        Assert.Equal((ReservationState.Interrupted, 2, "provider-outage"), (interrupted.State, interrupted.KeptHours, interrupted.ReasonCode));
        var after = (await cluster.Grains.GetGrain<IBidGrain>(bid.Id).Get())!;
        Assert.Equal((BidState.Filled, "rematched-after-outage"), (after.State, after.ReasonCode));
        var replacement = after.Fills.Single(f => f.ReservationId != original.ReservationId);
        Assert.Equal((poolB.Id, 2, 1_200L), (replacement.PoolId, (int)(replacement.EndsAt - replacement.StartsAt).TotalHours, replacement.FenPerGpuHour));
        Assert.Equal(2, (int)(after.Fills.Single(f => f.ReservationId == original.ReservationId).EndsAt - original.StartsAt).TotalHours);

        // The used two hours settled at once (they are over): the voucher pays half of 2 h × 4 GPUs × 1,000 fen.
        await cluster.Grains.GetGrain<ISweeperGrain>(0).Tick();
        var settled = (await _s.Reservation(original.ReservationId))!;
        Assert.Equal(new Settlement(2, 8_000, 4_000, 4_000, settled.Settlement!.SettledAt), settled.Settlement);
        var v = (await _s.Voucher(voucher.Id))!;
        Assert.Equal((4_000L, 4_800L), (v.CapturedFen, v.HeldFen)); // the replacement's hold: half of the remaining 2 h × 4 × 1,200
        await LedgerAssert.Clean(cluster.Database, _s.Now);
    }

    [Fact]
    public async Task Rule7_settlement_captures_the_voucher_share_and_books_cash_and_receivable_in_one_balanced_transaction()
    {
        var province = Province();
        var program = await _s.Program(d => d with { CoverageBasisPoints = 8_000 });
        var pool = await _s.ProviderWithPool(province, "H800-80G", gpus: 2, ask: 1_000);
        await _s.Approve(program, pool.ProviderId);
        var (tenant, _) = await _s.Tenant();
        var voucher = await _s.ActiveVoucher(program, tenant);
        var bid = await _s.Bid(tenant, _s.Order(gpus: 2, hours: 3, startInHours: 2, model: "H800-80G", provinces: [province], voucherId: voucher.Id));
        var reservationId = bid.Fills.Single().ReservationId;
        Assert.Equal(ReservationState.Confirmed, (await _s.Reservation(reservationId))!.State);

        var planned = (await _s.Reservation(reservationId))!.Plan;
        cluster.Advance(planned.StartsAt - _s.Now);
        await cluster.Grains.GetGrain<ISweeperGrain>(0).Tick();
        Assert.Equal(ReservationState.Active, (await _s.Reservation(reservationId))!.State);

        cluster.Advance(planned.EndsAt - _s.Now);
        await cluster.Grains.GetGrain<ISweeperGrain>(0).Tick();
        var done = (await _s.Reservation(reservationId))!;
        Assert.Equal(ReservationState.Completed, done.State);
        Assert.Equal((3, 6_000L, 4_800L, 1_200L), (done.Settlement!.UsedHours, done.Settlement.CostFen, done.Settlement.VoucherFen, done.Settlement.CashFen));
        Assert.Equal((0L, 4_800L), ((await _s.Voucher(voucher.Id))!.HeldFen, (await _s.Voucher(voucher.Id))!.CapturedFen));
        Assert.Equal(6_000, (await _s.PoolView(pool.Id))!.EarningsFen);

        var settle = $"settle:{reservationId}";
        Assert.Equal(6_000, await cluster.Database.ScalarAsync<long>("SELECT amount_fen FROM ledger_entries WHERE transaction_id = @t AND account = @a",
            ("t", settle), ("a", Accounts.ProviderReceivable(pool.ProviderId))));
        Assert.Equal(-4_800, await cluster.Database.ScalarAsync<long>("SELECT amount_fen FROM ledger_entries WHERE transaction_id = @t AND account = @a",
            ("t", settle), ("a", Accounts.ProgramPayable(program))));
        // Rule 8: the cash share comes out of the cash held at the fill (here all of it: 1,200 is more than a cancellation's 600).
        Assert.Equal(-1_200, await cluster.Database.ScalarAsync<long>("SELECT amount_fen FROM ledger_entries WHERE transaction_id = @t AND account = @a",
            ("t", settle), ("a", Accounts.TenantCashHeld(tenant))));
        Assert.Equal(3, await cluster.Database.ScalarAsync<long>("SELECT count(*) FROM ledger_entries WHERE transaction_id = @t", ("t", settle)));
        await LedgerAssert.Clean(cluster.Database, _s.Now);
    }

    [Fact]
    public async Task Rule8_a_reservation_cancelled_before_it_starts_releases_capacity_and_funds()
    {
        var province = Province();
        var program = await _s.Program();
        var pool = await _s.ProviderWithPool(province, "RTX4090-24G", gpus: 1, ask: 300);
        await _s.Approve(program, pool.ProviderId);
        var (tenant, _) = await _s.Tenant();
        var voucher = await _s.ActiveVoucher(program, tenant);
        var bid = await _s.Bid(tenant, _s.Order(gpus: 1, hours: 2, startInHours: 3, model: "RTX4090-24G", provinces: [province], voucherId: voucher.Id));
        var reservation = bid.Fills.Single().ReservationId;

        var (stranger, _) = await _s.Tenant();
        await Assert.ThrowsAsync<DomainException>(() => cluster.Grains.GetGrain<IMarketGrain>("RTX4090-24G").CancelReservation(reservation, stranger));
        var cancelled = await cluster.Grains.GetGrain<IMarketGrain>("RTX4090-24G").CancelReservation(reservation, tenant);

        Assert.Equal(ReservationState.Cancelled, cancelled.State);
        Assert.Equal(0, (await _s.Voucher(voucher.Id))!.HeldFen);
        Assert.Equal(0, (await _s.PoolView(pool.Id))!.Calendar.Used.Sum());
        await LedgerAssert.Clean(cluster.Database, _s.Now);
    }

    [Fact]
    public async Task A_fill_is_written_once_in_one_transaction_cash_or_voucher()
    {
        var province = Province();
        var program = await _s.Program();
        var pool = await _s.ProviderWithPool(province, "L40S-48G", gpus: 4, ask: 500);
        await _s.Approve(program, pool.ProviderId);
        var (tenant, _) = await _s.Tenant();
        var voucher = await _s.ActiveVoucher(program, tenant);

        // Every row a fill writes, with the transaction that wrote it (xmin) and its version.
        async Task<List<string>> Writes(string bidId) => (await cluster.Database.ScalarAsync<string>("""
            SELECT string_agg(w, ' | ' ORDER BY w) FROM (
                SELECT 'bid v' || version || ' tx ' || xmin AS w FROM bids WHERE id = @b
                UNION ALL SELECT 'reservation v' || version || ' tx ' || xmin FROM reservations WHERE bid_id = @b
                UNION ALL SELECT 'capacity hold tx ' || xmin FROM pool_holds WHERE reservation_id LIKE @b || '-%'
                UNION ALL SELECT 'voucher hold tx ' || xmin FROM voucher_holds WHERE reservation_id LIKE @b || '-%'
                UNION ALL SELECT 'cash hold tx ' || xmin FROM cash_holds WHERE reservation_id LIKE @b || '-%'
                UNION ALL SELECT 'ledger ' || kind || ' tx ' || xmin FROM ledger_transactions WHERE reservation_id LIKE @b || '-%') x
            """, ("b", bidId))).Split(" | ").ToList();
        async Task<long> VoucherVersion() => await cluster.Database.ScalarAsync<long>("SELECT version FROM vouchers WHERE id = @v", ("v", voucher.Id));
        // The pool's row is not written by the fill (the pool writes it on its own tick when it learns of fills).
        async Task<string> PoolWrittenBy() => await cluster.Database.ScalarAsync<string>("SELECT xmin::text FROM pools WHERE id = @p", ("p", pool.Id));

        var before = await VoucherVersion();
        var cash = await _s.Bid(tenant, _s.Order(gpus: 1, model: "L40S-48G", provinces: [province]));
        Assert.Equal(BidState.Filled, cash.State);
        var tx = (await Writes(cash.Id))[0].Split(" tx ")[1];
        // The bid is written once, in its final state, with its reservation, capacity hold and cash hold (rule 8), in one
        // transaction; the pool's own row is not written.
        Assert.Equal([$"bid v1 tx {tx}", $"capacity hold tx {tx}", $"cash hold tx {tx}", $"ledger cash-hold tx {tx}", $"reservation v1 tx {tx}"],
            await Writes(cash.Id));
        Assert.NotEqual(tx, await PoolWrittenBy());
        Assert.Equal(before, await VoucherVersion());

        // The pool writes its row on its own tick once it learns of the cash fill. Let it first: the commit batcher merges
        // whatever is queued together, so that write could otherwise share the voucher fill's transaction.
        var learned = DateTimeOffset.UtcNow + TimeSpan.FromSeconds(10);
        while (await PoolWrittenBy() is var writer && long.Parse(writer, CultureInfo.InvariantCulture) < long.Parse(tx, CultureInfo.InvariantCulture))
        {
            Assert.True(DateTimeOffset.UtcNow < learned, "the pool did not write what it learned of the cash fill within 10 s");
            await Task.Delay(50);
        }

        before = await VoucherVersion();
        var funded = await _s.Bid(tenant, _s.Order(gpus: 1, model: "L40S-48G", provinces: [province], voucherId: voucher.Id, startInHours: 5));
        Assert.Equal(BidState.Filled, funded.State);
        Assert.True(funded.Fills.Single().VoucherFen > 0);
        tx = (await Writes(funded.Id))[0].Split(" tx ")[1];
        // With a voucher, the voucher's hold and its ledger posting join the same transaction, as the cash hold does.
        Assert.Equal([$"bid v1 tx {tx}", $"capacity hold tx {tx}", $"cash hold tx {tx}", $"ledger cash-hold tx {tx}", $"ledger hold tx {tx}",
            $"reservation v1 tx {tx}", $"voucher hold tx {tx}"],
            await Writes(funded.Id));
        Assert.NotEqual(tx, await PoolWrittenBy());
        Assert.Equal(before + 1, await VoucherVersion());
        Assert.Equal(funded.Fills.Single().VoucherFen, (await _s.Voucher(voucher.Id))!.HeldFen);
        await LedgerAssert.Clean(cluster.Database, _s.Now);
    }

    // ---- The market decides only on what a bid's voucher can pay --------------------------------------------------

    [Fact]
    public async Task Rule3_a_voucher_bid_fills_where_its_voucher_pays_for_every_hour_however_many_cheaper_pools_it_cannot_pay()
    {
        var province = Province();
        var program = await _s.Program(d => d with { CoverageBasisPoints = 5_000 });
        var (tenant, _) = await _s.Tenant();
        var voucher = await _s.ActiveVoucher(program, tenant);
        var start = Hours.ToTime(Hours.Floor(_s.Now) + 3);
        var pools = new List<PoolView>();
        foreach (var (ask, site) in new[] { (1_000L, "a"), (1_100L, "b"), (1_200L, "c"), (1_250L, "d"), (1_300L, "e") })
        {
            var (provider, _) = await _s.Provider([Scenario.Site(province, site)]);
            pools.Add(await _s.Pool(provider, "A800-80G", gpus: 2, ask: ask, siteId: site));
        }
        // Three cheaper providers the program has not approved; one approved only until the rental's second hour; one approved.
        await _s.Approve(program, pools[3].ProviderId);
        await _s.Notice(program, pools[3].ProviderId, approved: false, start.AddHours(1));
        await _s.Approve(program, pools[4].ProviderId);
        var order = _s.Order(gpus: 2, hours: 2, startInHours: 3, maxPrice: 2_000, model: "A800-80G", provinces: [province], voucherId: voucher.Id);

        var quote = await cluster.Grains.GetGrain<IMarketGrain>("A800-80G").Quote(tenant, order);
        Assert.Equal((true, pools[4].Id, 5_200L, 2_600L), (quote.Available, quote.PoolId, quote.CostFen, quote.VoucherFen));

        var bid = await _s.Bid(tenant, order);
        Assert.Equal((BidState.Filled, pools[4].Id, 2_600L), (bid.State, bid.Fills.Single().PoolId, bid.Fills.Single().VoucherFen));
        // Decided on a pool the voucher pays, at once: no reservation was tried and refused on the way.
        Assert.Equal(1, await cluster.Database.ScalarAsync<long>("SELECT count(*) FROM reservations WHERE bid_id = @b", ("b", bid.Id)));
        await LedgerAssert.Clean(cluster.Database, _s.Now);
    }

    [Fact]
    public async Task Rule3_an_approval_notice_fills_the_resting_bids_it_makes_payable()
    {
        var province = Province();
        var program = await _s.Program(d => d with { CoverageBasisPoints = 5_000 });
        var (tenant, _) = await _s.Tenant();
        var voucher = await _s.ActiveVoucher(program, tenant);
        var pool = await _s.ProviderWithPool(province, "A800-80G", gpus: 1, ask: 1_000);
        var resting = await _s.Bid(tenant, _s.Order(gpus: 1, hours: 2, startInHours: 3, tif: TimeInForce.Gtc, model: "A800-80G",
            provinces: [province], voucherId: voucher.Id));
        Assert.Equal((BidState.Resting, "provider-not-approved"), (resting.State, resting.ReasonCode));
        await cluster.Grains.GetGrain<IMarketGrain>("A800-80G").Sweep();
        Assert.Equal(BidState.Resting, (await cluster.Grains.GetGrain<IBidGrain>(resting.Id).Get())!.State);

        await _s.Approve(program, pool.ProviderId);

        var filled = (await cluster.Grains.GetGrain<IBidGrain>(resting.Id).Get())!;
        Assert.Equal((BidState.Filled, pool.Id, 1_000L), (filled.State, filled.Fills.Single().PoolId, filled.Fills.Single().VoucherFen));
        await LedgerAssert.Clean(cluster.Database, _s.Now);
    }

    [Fact]
    public async Task Rule6_an_outage_releases_the_voucher_share_of_the_hours_it_takes_before_rematching_them()
    {
        var province = Province();
        var program = await _s.Program(d => d with { CoverageBasisPoints = 10_000 });
        var (providerA, _) = await _s.Provider([Scenario.Site(province, "a")]);
        var (providerB, _) = await _s.Provider([Scenario.Site(province, "b")]);
        var poolA = await _s.Pool(providerA, "L40S-48G", gpus: 1, ask: 1_000, siteId: "a");
        await _s.Approve(program, providerA);
        await _s.Approve(program, providerB);
        var (tenant, _) = await _s.Tenant();
        var voucher = await _s.ActiveVoucher(program, tenant, amountFen: 6_000);
        var bid = await _s.Bid(tenant, _s.Order(gpus: 1, hours: 4, startInHours: 3, maxPrice: 2_000, model: "L40S-48G", provinces: [province],
            voucherId: voucher.Id));
        var original = bid.Fills.Single();
        Assert.Equal((poolA.Id, 4_000L), (original.PoolId, original.VoucherFen));
        var poolB = await _s.Pool(providerB, "L40S-48G", gpus: 1, ask: 1_500, siteId: "b");

        // Declared now, for the rental's last two hours: the voucher stops holding their 2,000 fen before they are re-matched.
        var outage = new Outage(Scenario.Unique("outage"), original.StartsAt.AddHours(2), original.StartsAt.AddHours(8), "cooling maintenance");
        await cluster.Grains.GetGrain<IProviderGrain>(providerA).DeclareOutage(new OutageRequest(poolA.Id, null, outage));

        var after = (await cluster.Grains.GetGrain<IBidGrain>(bid.Id).Get())!;
        Assert.Equal((BidState.Filled, "rematched-after-outage"), (after.State, after.ReasonCode));
        var replacement = after.Fills.Single(f => f.ReservationId != original.ReservationId);
        Assert.Equal((poolB.Id, 3_000L, 3_000L), (replacement.PoolId, replacement.CostFen, replacement.VoucherFen)); // all of it, as before the outage
        Assert.Equal((5_000L, 1_000L), ((await _s.Voucher(voucher.Id))!.HeldFen, (await _s.Voucher(voucher.Id))!.AvailableFen));
        await LedgerAssert.Clean(cluster.Database, _s.Now);
    }

    [Fact]
    public async Task Rule6_a_rematch_after_an_outage_that_the_voucher_cannot_pay_says_so()
    {
        var province = Province();
        var program = await _s.Program(d => d with { CoverageBasisPoints = 5_000 });
        var (providerA, _) = await _s.Provider([Scenario.Site(province, "a")]);
        var (providerB, _) = await _s.Provider([Scenario.Site(province, "b")]);
        var poolA = await _s.Pool(providerA, "L40S-48G", gpus: 1, ask: 1_000, siteId: "a");
        await _s.Approve(program, providerA); // and not provider B
        var (tenant, _) = await _s.Tenant();
        var voucher = await _s.ActiveVoucher(program, tenant);
        var bid = await _s.Bid(tenant, _s.Order(gpus: 1, hours: 2, startInHours: 3, maxPrice: 2_000, model: "L40S-48G", provinces: [province],
            voucherId: voucher.Id));
        var original = bid.Fills.Single();
        await _s.Pool(providerB, "L40S-48G", gpus: 1, ask: 1_000, siteId: "b");

        var outage = new Outage(Scenario.Unique("outage"), original.StartsAt, original.StartsAt.AddHours(8), "power");
        await cluster.Grains.GetGrain<IProviderGrain>(providerA).DeclareOutage(new OutageRequest(poolA.Id, null, outage));

        var after = (await cluster.Grains.GetGrain<IBidGrain>(bid.Id).Get())!;
        Assert.Equal((BidState.Cancelled, "outage-voucher-cannot-pay"), (after.State, after.ReasonCode));
        Assert.Contains("not approved", after.Reason);
        Assert.Equal(0, (await _s.Voucher(voucher.Id))!.HeldFen);
        await LedgerAssert.Clean(cluster.Database, _s.Now);
    }

    [Fact]
    public async Task Rule8_a_cancelled_reservation_shows_on_its_bid_as_cancelled()
    {
        var province = Province();
        var pool = await _s.ProviderWithPool(province, "RTX4090-24G", gpus: 1, ask: 300);
        var (tenant, _) = await _s.Tenant();
        var bid = await _s.Bid(tenant, _s.Order(gpus: 1, hours: 2, startInHours: 3, model: "RTX4090-24G", provinces: [province]));
        var reservation = bid.Fills.Single().ReservationId;

        await cluster.Grains.GetGrain<IMarketGrain>("RTX4090-24G").CancelReservation(reservation, tenant);

        var after = (await cluster.Grains.GetGrain<IBidGrain>(bid.Id).Get())!;
        Assert.Equal((BidState.Cancelled, "reservation-cancelled", 0), (after.State, after.ReasonCode, after.Fills.Count));
        Assert.Equal(0, (await _s.PoolView(pool.Id))!.Calendar.Used.Sum());
    }

    [Fact]
    public async Task Rule5_a_regulators_routing_rule_sends_bids_to_preferred_provinces_within_its_margin_and_not_beyond()
    {
        var east = Province();
        var west = Province();
        var eastPool = await _s.ProviderWithPool(east, "H20-96G", gpus: 4, ask: 1_000);
        var westPool = await _s.ProviderWithPool(west, "H20-96G", gpus: 4, ask: 1_080);
        var (tenant, _) = await _s.Tenant();
        var order = _s.Order(gpus: 1, hours: 2, startInHours: 3, maxPrice: 2_000, model: "H20-96G", provinces: [east, west]);
        var routing = cluster.Grains.GetGrain<IRoutingGrain>(0);
        try
        {
            Assert.Equal(eastPool.Id, (await _s.Bid(tenant, order)).Fills.Single().PoolId); // no rule: the lowest ask

            await routing.Set([west], 1_000, "regulator-1"); // within 10 %: 1,080 is close enough to 1,000
            var routed = (await _s.Bid(tenant, order)).Fills.Single();
            Assert.Equal((westPool.Id, 1_080L), (routed.PoolId, routed.FenPerGpuHour));

            await routing.Set([west], 500, "regulator-1"); // within 5 %: it is not
            Assert.Equal(eastPool.Id, (await _s.Bid(tenant, order)).Fills.Single().PoolId);
            Assert.Equal(("regulator-1", 500), ((await routing.Get()).UpdatedBy, (await routing.Get()).WithinBasisPoints));
            Assert.Equal("invalid-routing", (await Assert.ThrowsAsync<DomainException>(() => routing.Set(["Atlantis"], 100, "regulator-1"))).Code);
        }
        finally
        {
            await routing.Set([], 0, "test");
        }
    }

    [Fact]
    public async Task Rule5_a_company_keeps_at_most_its_share_of_resting_bids_in_a_market()
    {
        var province = Province();
        var (tenant, _) = await _s.Tenant();
        var (other, _) = await _s.Tenant();
        var market = cluster.Grains.GetGrain<IMarketGrain>("L40S-48G");
        var order = _s.Order(gpus: 1, hours: 2, startInHours: 3, tif: TimeInForce.Gtc, model: "L40S-48G", provinces: [province]);
        var limit = new MarketOptions().MaxRestingBidsPerTenant;

        var resting = new List<BidView>();
        for (var i = 0; i < limit; i++)
        {
            resting.Add(await _s.Bid(tenant, order));
        }
        var refused = await _s.Bid(tenant, order);
        var othersBid = await _s.Bid(other, order);

        Assert.All(resting, b => Assert.Equal(BidState.Resting, b.State));
        Assert.Equal((BidState.Rejected, "too-many-resting-bids"), (refused.State, refused.ReasonCode));
        Assert.Equal(BidState.Resting, othersBid.State); // the cap is the company's, not the market's
        await market.CancelBid(resting[0].Id, tenant);
        var again = await _s.Bid(tenant, order);
        Assert.Equal(BidState.Resting, again.State); // room again once one is cancelled

        // Out of the shared market's book again, for the tests after this one.
        foreach (var bid in resting.Skip(1).Append(again))
        {
            await market.CancelBid(bid.Id, tenant);
        }
        await market.CancelBid(othersBid.Id, other);
    }
}
