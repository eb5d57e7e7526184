using Marketplace.Data;
using Marketplace.Storage;
using Marketplace.Testing;
using Orleans.Runtime;
using Xunit;

namespace Marketplace.Grains.Tests;

/// <summary>
/// State survives what Orleans does to activations (deactivation, silo restart, a second activation), and a saga cut
/// short at any step ends confirmed or fully compensated.
/// </summary>
[Collection(RestartCollection.Name)]
public sealed class RecoveryTests(RestartCluster cluster)
{
    private readonly Scenario _s = new(cluster);
    private const string Model = "A800-80G";

    private async Task ForceDeactivation() =>
        await cluster.Grains.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);

    [Fact]
    public async Task Voucher_state_and_ledger_stay_equal_when_grains_are_deactivated_between_operations_and_the_silo_restarts()
    {
        var program = await _s.Program();
        var (tenant, _) = await _s.Tenant();
        var (provider, code) = await _s.Provider();
        await _s.Approve(program, provider);
        var voucher = await _s.ActiveVoucher(program, tenant);
        var grain = cluster.Grains.GetGrain<IVoucherGrain>(voucher.Id);

        for (var i = 0; i < 6; i++)
        {
            var reservation = $"r-{i}-{voucher.Id}";
            await grain.HoldFunds(new FundingRequest(reservation, tenant, provider, code, _s.Now.AddDays(1), _s.Now.AddDays(1).AddHours(1), 100_000));
            await ForceDeactivation();
            if (i % 2 == 0)
            {
                await grain.Capture(reservation, 60_000);
            }
            else
            {
                await grain.Release(reservation);
            }
            await ForceDeactivation();
        }
        var before = (await grain.Get())!;
        await cluster.RestartSilosAsync();
        var after = (await cluster.Grains.GetGrain<IVoucherGrain>(voucher.Id).Get())!;

        Assert.Equal(before, after);
        Assert.Equal((0L, 180_000L), (after.HeldFen, after.CapturedFen));
        await LedgerAssert.VoucherMatchesLedger(cluster.Database, voucher.Id);
    }

    [Fact]
    public async Task A_pool_and_its_bookings_survive_a_silo_restart()
    {
        var pool = await _s.ProviderWithPool("Ningxia", Model, gpus: 3, ask: 2_500);
        var (tenant, _) = await _s.Tenant();
        var bid = await _s.Bid(tenant, _s.Order(gpus: 2, hours: 5, maxPrice: 3_000, model: Model, provinces: ["Ningxia"]));
        var before = (await _s.PoolView(pool.Id))!;

        await cluster.RestartSilosAsync();

        var after = (await _s.PoolView(pool.Id))!;
        // Its version never goes back (the pool writes its row on its own tick once it learns of the fill, maybe in between).
        Assert.True(after.Version >= before.Version, $"version {before.Version} became {after.Version}");
        Assert.Equal(before.Calendar.Used, after.Calendar.Used);
        Assert.Equal(10, after.Calendar.Used.Sum());
        // The market rebuilt from the database: the third GPU is still for sale, the first two are not.
        var next = await _s.Bid(tenant, _s.Order(gpus: 2, hours: 5, maxPrice: 3_000, model: Model, provinces: ["Ningxia"]));
        Assert.Equal((BidState.Rejected, "no-capacity"), (next.State, next.ReasonCode));
        Assert.Equal(BidState.Filled, (await cluster.Grains.GetGrain<IBidGrain>(bid.Id).Get())!.State);
    }

    public enum CrashPoint
    {
        BeforeAnyStep,
        AfterCapacityHold,
        AfterFundsHold,
        AfterPoolConfirm,
    }

    /// <summary>
    /// Leaves a bid and its reservation exactly as a silo crash after each saga step would (the state is written by the
    /// same grains and stores the saga uses), restarts the silo and lets the sweeper find them.
    /// </summary>
    [Theory]
    [InlineData(CrashPoint.BeforeAnyStep)]
    [InlineData(CrashPoint.AfterCapacityHold)]
    [InlineData(CrashPoint.AfterFundsHold)]
    [InlineData(CrashPoint.AfterPoolConfirm)]
    public async Task A_saga_cut_short_by_a_crash_at_any_step_ends_confirmed_after_restart(CrashPoint crash)
    {
        var (pool, plan, voucherId) = await CrashedSaga(crash, capacityTakenMeanwhile: false);

        await RecoverAfterRestart();

        var reservation = (await _s.Reservation(plan.ReservationId))!;
        Assert.Equal(ReservationState.Confirmed, reservation.State);
        Assert.Equal(plan.CostFen * 8_000 / 10_000, reservation.VoucherFen);
        var bid = (await cluster.Grains.GetGrain<IBidGrain>(plan.BidId).Get())!;
        Assert.Equal((BidState.Filled, plan.ReservationId), (bid.State, bid.Fills.Single().ReservationId));
        Assert.Equal(reservation.VoucherFen, (await _s.Voucher(voucherId))!.HeldFen);
        Assert.Equal(plan.Gpus * plan.Hours, (await _s.PoolView(pool.Id))!.Calendar.Used.Sum());
        await LedgerAssert.Clean(cluster.Database, _s.Now);
    }

    [Theory]
    [InlineData(CrashPoint.AfterCapacityHold)]
    [InlineData(CrashPoint.AfterFundsHold)]
    public async Task A_saga_that_cannot_finish_after_a_crash_is_fully_compensated(CrashPoint crash)
    {
        var (pool, plan, voucherId) = await CrashedSaga(crash, capacityTakenMeanwhile: true);

        await RecoverAfterRestart();

        var reservation = (await _s.Reservation(plan.ReservationId))!;
        Assert.Equal((ReservationState.Failed, "no-capacity"), (reservation.State, reservation.ReasonCode));
        Assert.Equal(0, (await _s.Voucher(voucherId))!.HeldFen);
        var bid = (await cluster.Grains.GetGrain<IBidGrain>(plan.BidId).Get())!;
        Assert.Equal((BidState.Rejected, 0), (bid.State, bid.Fills.Count));
        // Only the reservation that took the capacity meanwhile holds it.
        Assert.Equal(plan.Gpus * plan.Hours, (await _s.PoolView(pool.Id))!.Calendar.Used.Sum());
        await LedgerAssert.Clean(cluster.Database, _s.Now);
    }

    [Theory]
    [InlineData(CrashPoint.BeforeAnyStep)]
    [InlineData(CrashPoint.AfterCapacityHold)]
    [InlineData(CrashPoint.AfterFundsHold)]
    [InlineData(CrashPoint.AfterPoolConfirm)]
    public async Task Rule8_cancelling_a_bid_whose_reservation_a_crash_left_unfinished_cancels_that_reservation_too(CrashPoint crash)
    {
        // A province of its own: the capacity these cancellations free must not be what another test's bid takes.
        var (pool, plan, voucherId) = await CrashedSaga(crash, capacityTakenMeanwhile: false, province: "Xinjiang");

        var bid = await cluster.Grains.GetGrain<IMarketGrain>(Model).CancelBid(plan.BidId, plan.TenantId);

        Assert.Equal((BidState.Cancelled, 0), (bid.State, bid.Fills.Count));
        Assert.Contains(plan.ReservationId, bid.Reason);
        Assert.Equal((ReservationState.Cancelled, "bid-cancelled"), ((await _s.Reservation(plan.ReservationId))!.State, (await _s.Reservation(plan.ReservationId))!.ReasonCode));
        Assert.Equal(0, (await _s.Voucher(voucherId))!.HeldFen);
        Assert.Equal(0, (await _s.PoolView(pool.Id))!.Calendar.Used.Sum());
        await LedgerAssert.Clean(cluster.Database, _s.Now);
    }

    private async Task RecoverAfterRestart()
    {
        await cluster.RestartSilosAsync();
        cluster.Advance(TimeSpan.FromMinutes(2)); // past the time after which a pending saga counts as orphaned
        await cluster.Grains.GetGrain<ISweeperGrain>(0).Tick();
        await cluster.Grains.GetGrain<ISweeperGrain>(0).Tick();
    }

    private async Task<(PoolView Pool, ReservationPlan Plan, string VoucherId)> CrashedSaga(CrashPoint crash, bool capacityTakenMeanwhile,
        string province = "Qinghai")
    {
        var program = await _s.Program(d => d with { CoverageBasisPoints = 8_000 });
        var (providerId, providerCode) = await _s.Provider([Scenario.Site(province, $"site-{crash}")]);
        var pool = await cluster.Grains.GetGrain<IProviderGrain>(providerId).ListPool(
            new PoolListing(Scenario.Unique("pool"), $"site-{crash}", Model, 2, 1_000));
        await _s.Approve(program, providerId);
        var (tenant, _) = await _s.Tenant();
        var voucher = await _s.ActiveVoucher(program, tenant);

        // The bid as the market accepted it, and the reservation the saga had written before the crash.
        var order = _s.Order(gpus: 2, hours: 3, startInHours: 5, maxPrice: 1_000, model: Model, provinces: [province], voucherId: voucher.Id);
        var bidId = Scenario.Unique("b");
        await cluster.Grains.GetGrain<IBidGrain>(bidId).Open(new BidSubmission(bidId, tenant, order, "hash"));
        var plan = new ReservationPlan(Ids.Reservation(bidId, 1), bidId, tenant, pool.Id, providerId, providerCode, Model, province,
            pool.Site.SiteId, Hours.Ceiling(order.EarliestStart), 3, 2, 1_000, voucher.Id);
        var now = _s.Now;
        await new ReservationStore(cluster.Database.DataSource).WriteAsync(plan.ReservationId,
            new ReservationRecord(plan, ReservationState.Pending, 0, plan.CostFen, null, null, null, false, plan.StartHour + plan.Hours, null, now, now), 0);

        var poolGrain = cluster.Grains.GetGrain<IGpuPoolGrain>(pool.Id);
        if (crash >= CrashPoint.AfterCapacityHold)
        {
            Assert.True((await poolGrain.Hold(new HoldRequest(plan.ReservationId, plan.StartHour, plan.Hours, plan.Gpus, plan.FenPerGpuHour, TimeSpan.FromSeconds(30)))).Accepted);
        }
        if (crash >= CrashPoint.AfterFundsHold)
        {
            Assert.True((await cluster.Grains.GetGrain<IVoucherGrain>(voucher.Id).HoldFunds(
                new FundingRequest(plan.ReservationId, tenant, providerId, providerCode, plan.StartsAt, plan.EndsAt, plan.CostFen))).Accepted);
        }
        if (crash >= CrashPoint.AfterPoolConfirm)
        {
            Assert.True((await poolGrain.Confirm(plan.ReservationId)).Accepted);
        }
        if (capacityTakenMeanwhile)
        {
            // The unconfirmed hold lapses while the silo is down, and another tenant books the same hours.
            cluster.Advance(TimeSpan.FromSeconds(31));
            var (other, _) = await _s.Tenant();
            var taker = await _s.Bid(other, order with { VoucherId = null });
            Assert.Equal((BidState.Filled, null), (taker.State, taker.ReasonCode));
        }
        return (pool, plan, voucher.Id);
    }

    [Fact]
    public async Task Two_activations_of_a_market_cannot_both_write_a_fill()
    {
        var pool = await _s.ProviderWithPool("Yunnan", Model, gpus: 1, ask: 900);
        var db = cluster.Database.DataSource;
        var store = new MarketStore(db, new BidStore(db), new ReservationStore(db));
        // Two activations of one market, as during a membership change: the second took the epoch after the first.
        var market = Scenario.Unique("market");
        var older = await store.TakeEpochAsync(market);
        var newer = await store.TakeEpochAsync(market);
        var booking = (await store.LoadPoolAsync(pool.Id, 0))!;
        var (tenant, _) = await _s.Tenant();
        var hour = Hours.FirstBookable(_s.Now) + 2;

        // Both decided to sell the pool's only GPU for the same hour, each to its own bid.
        FillWrite Fill(long epoch, string bidId)
        {
            var plan = new ReservationPlan(Ids.Reservation(bidId, 1), bidId, tenant, pool.Id, pool.ProviderId, "code", Model, "Yunnan", pool.Site.SiteId,
                hour, 1, 1, 900, null);
            var order = _s.Order(model: Model);
            var bid = new BidRecord(tenant, order, "hash", BidState.Filled, null, null, [], _s.Now, _s.Now);
            var reservation = new ReservationRecord(plan, ReservationState.Confirmed, 0, plan.CostFen, null, null, null, false, hour + 1, null, _s.Now, _s.Now);
            return new FillWrite(market, epoch, bidId, bid, 0, reservation, booking.TermsVersion, null, null, 0, new Marketplace.Domain.MarketLimits().MaxUnsettledFenPerTenant);
        }
        Assert.Equal(0, await CommitBatcher.ExecuteAloneAsync(db, store.Fill(Fill(older, "b-older"), _s.Now)));
        Assert.Equal(WriteRefusal.Fenced, await store.WhyRefusedAsync(market, older, "b-older", 0, pool.Id, booking.TermsVersion));
        Assert.Equal(1, await CommitBatcher.ExecuteAloneAsync(db, store.Fill(Fill(newer, "b-newer"), _s.Now)));

        Assert.Equal("b-newer", await cluster.Database.ScalarAsync<string>("SELECT string_agg(id, ',') FROM bids WHERE id IN ('b-older', 'b-newer')"));
        Assert.Equal("b-newer-1", await cluster.Database.ScalarAsync<string>("SELECT string_agg(reservation_id, ',') FROM pool_holds WHERE pool_id = @p", ("p", pool.Id)));
        // A fill decided on terms the pool has since changed is refused too.
        var terms = await cluster.Database.ScalarAsync<long>("UPDATE pools SET terms_version = terms_version + 1 WHERE id = @p RETURNING terms_version", ("p", pool.Id));
        Assert.Equal(0, await CommitBatcher.ExecuteAloneAsync(db, store.Fill(Fill(newer, "b-late") with { PoolTermsVersion = terms - 1 }, _s.Now)));
        Assert.Equal(WriteRefusal.PoolChanged, await store.WhyRefusedAsync(market, newer, "b-late", 0, pool.Id, terms - 1));
    }

    [Fact]
    public async Task A_market_activation_another_took_over_from_stops_writing_and_the_bid_is_filled_once_by_the_new_one()
    {
        const string model = "H20-96G";
        var pool = await _s.ProviderWithPool("Tibet", model, gpus: 2, ask: 900);
        var (tenant, _) = await _s.Tenant();
        var market = cluster.Grains.GetGrain<IMarketGrain>(model);
        var first = await _s.Bid(tenant, _s.Order(gpus: 1, model: model, maxPrice: 900));
        Assert.Equal(BidState.Filled, first.State);

        // A newer activation takes the epoch (as one started during a membership change would) while this one lives on.
        await cluster.Database.ScalarAsync<long>("UPDATE market_epochs SET epoch = epoch + 1 WHERE gpu_model = @m RETURNING epoch", ("m", model));
        var order = _s.Order(gpus: 1, model: model, maxPrice: 900, startInHours: 3);
        var submission = new BidSubmission(Ids.Bid(tenant, Scenario.Unique("key")), tenant, order, Ids.ContentHash(StateJson.Serialize(order)));
        var refused = await Assert.ThrowsAsync<DomainException>(() => market.PlaceBid(submission));
        Assert.Equal((ErrorKind.Unavailable, "market-moved"), (refused.Kind, refused.Code));
        Assert.Null(await cluster.Grains.GetGrain<IBidGrain>(submission.BidId).Get()); // nothing of it was written

        // The stale activation is gone once idle; the same request again is filled once, by the new one.
        await ForceDeactivation();
        var filled = await market.PlaceBid(submission);
        Assert.Equal((BidState.Filled, $"{submission.BidId}-1"), (filled.State, filled.Fills.Single().ReservationId));
        var repeat = await market.PlaceBid(submission); // a repeat is answered from what is stored
        Assert.Equal((filled.State, filled.Fills.Single(), filled.Version), (repeat.State, repeat.Fills.Single(), repeat.Version));
        Assert.Equal(2 * 1 * 2, (await _s.PoolView(pool.Id))!.Calendar.Used.Sum()); // two fills of 1 GPU for 2 hours
        await LedgerAssert.Clean(cluster.Database, _s.Now);
    }

    [Fact]
    public async Task Two_activations_of_a_voucher_cannot_both_commit()
    {
        var program = await _s.Program();
        var (tenant, _) = await _s.Tenant();
        var (provider, _) = await _s.Provider();
        var voucher = await _s.ActiveVoucher(program, tenant, amountFen: 100_000);
        var store = new VoucherStore(cluster.Database.DataSource);

        // Both read the voucher at the same version, as two activations during a membership change would.
        var (first, _) = (await store.LoadAsync(voucher.Id))!.Value;
        var (second, _) = (await store.LoadAsync(voucher.Id))!.Value;
        HoldRow Hold(string reservation) => new(reservation, HoldState.Held, 100_000, 80_000, 0, provider, false);
        await store.HoldAsync(first, first with { HeldFen = 80_000 }, Hold("r-a"), _s.Now);
        await Assert.ThrowsAsync<StaleStateException>(() => store.HoldAsync(second, second with { HeldFen = 80_000 }, Hold("r-b"), _s.Now));

        var stored = (await store.LoadAsync(voucher.Id))!.Value;
        Assert.Equal(80_000, stored.Voucher.HeldFen);
        Assert.Equal(["r-a"], stored.Holds.Keys);
        Assert.Equal(0, await cluster.Database.ScalarAsync<long>("SELECT count(*) FROM ledger_transactions WHERE id = @id", ("id", $"hold:{voucher.Id}:r-b")));
        await LedgerAssert.VoucherMatchesLedger(cluster.Database, voucher.Id);
    }

    [Fact]
    public async Task Two_activations_of_a_pool_cannot_both_sell_its_last_gpu()
    {
        var pool = await _s.ProviderWithPool("Yunnan", Model, gpus: 1, ask: 900);
        var store = new PoolStore(cluster.Database.DataSource);
        var first = (await store.LoadAsync(pool.Id))!;
        var second = (await store.LoadAsync(pool.Id))!;
        var hour = Hours.FirstBookable(_s.Now) + 2;
        var hold = new PoolHold { StartHour = hour, Hours = 1, Gpus = 1, Confirmed = true };

        await store.WriteAsync(pool.Id, first.State, new Dictionary<string, PoolHold?> { ["r-a"] = hold }, first.Version);
        await Assert.ThrowsAsync<StaleStateException>(() =>
            store.WriteAsync(pool.Id, second.State, new Dictionary<string, PoolHold?> { ["r-b"] = hold }, second.Version));
        Assert.Equal(["r-a"], (await store.LoadAsync(pool.Id))!.State.Holds.Keys);
    }

    [Fact]
    public async Task A_voucher_activation_with_a_stale_copy_reloads_and_answers_from_the_stored_state()
    {
        var program = await _s.Program();
        var (tenant, _) = await _s.Tenant();
        var (provider, code) = await _s.Provider();
        await _s.Approve(program, provider);
        var voucher = await _s.ActiveVoucher(program, tenant, amountFen: 100_000);
        var grain = cluster.Grains.GetGrain<IVoucherGrain>(voucher.Id);
        await grain.Get();

        // Another activation holds 70,000 fen behind this one's back.
        var store = new VoucherStore(cluster.Database.DataSource);
        var (row, _) = (await store.LoadAsync(voucher.Id))!.Value;
        await store.HoldAsync(row, row with { HeldFen = 70_000 }, new HoldRow("elsewhere", HoldState.Held, 70_000, 70_000, 0, provider, false), _s.Now);

        var held = await grain.HoldFunds(new FundingRequest("here", tenant, provider, code, _s.Now.AddDays(1), _s.Now.AddDays(1).AddHours(1), 100_000));
        Assert.Equal(30_000, held.AmountFen); // what the stored state leaves, not what the stale copy thought
        await LedgerAssert.VoucherMatchesLedger(cluster.Database, voucher.Id);
    }
}
