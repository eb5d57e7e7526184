using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Marketplace.Testing;
using Marketplace.Web.Hubs;
using Microsoft.AspNetCore.SignalR.Client;
using Xunit;

namespace Marketplace.Web.Tests;

/// <summary>The live push path with real SignalR clients: who receives what, how often, and what a reconnect costs.</summary>
[Collection(PlatformCollection.Name)]
public sealed class PushTests(PlatformCluster web)
{
    private static readonly TimeSpan Bounded = TimeSpan.FromSeconds(15);
    private readonly Api _api = new(web);
    private readonly Scenario _scenario = new(web);

    [Theory]
    [InlineData(false, "Hainan")]
    [InlineData(true, "Yunnan")]
    public async Task The_owner_receives_its_bid_reservation_voucher_and_pool_updates_and_another_tenant_none(bool messagePack, string province)
    {
        var (providerId, provider) = await _api.Provider(province);
        var pool = await _api.Pool(provider, providerId, model: "Ascend910B-64G", gpus: 16, ask: 1_000);
        var program = await _scenario.Program();
        await _scenario.Approve(program, providerId);
        var (tenantId, sme) = await _api.Tenant();
        var (otherId, other) = await _api.Tenant();
        await using var owner = await web.Hub(Names.Roles.Sme, tenantId: tenantId, messagePack: messagePack);
        await using var stranger = await web.Hub(Names.Roles.Sme, tenantId: otherId, messagePack: messagePack);
        await using var poolOwner = await web.Hub(Names.Roles.Provider, providerId: providerId, messagePack: messagePack);

        var voucher = await Created<VoucherView>(sme.PostJson($"/api/v1/programs/{program}/vouchers", new { amountFen = 1_000_000 }, Scenario.Unique("claim")));
        await Ok(sme.PostAsJsonAsync($"/api/v1/vouchers/{voucher.Id}/activity", new { title = "Train", description = "A model", plannedGpuHours = 100 }));
        await owner.WaitFor(Names.Hub.VoucherUpdated, p => Data(p, "id") == voucher.Id && State<VoucherState>(p) == VoucherState.Active, Bounded);

        var bid = await Created<BidView>(sme.PostJson("/api/v1/bids", Body(_scenario.Order(gpus: 4, hours: 2, model: "Ascend910B-64G", provinces: [province],
            voucherId: voucher.Id)), Scenario.Unique("bid")));
        Assert.Equal(BidState.Filled, bid.State);
        var reservationId = Assert.Single(bid.Fills).ReservationId;

        var bidUpdate = await owner.WaitFor(Names.Hub.BidUpdated, p => Data(p, "id") == bid.Id && State<BidState>(p) == BidState.Filled, Bounded);
        Assert.Equal(bid.Version, bidUpdate.Payload.GetProperty("seq").GetInt64());
        await owner.WaitFor(Names.Hub.ReservationUpdated, p => Data(p, "id") == reservationId, Bounded);
        var held = await owner.WaitFor(Names.Hub.VoucherUpdated, p => Data(p, "id") == voucher.Id && p.GetProperty("data").GetProperty("heldFen").GetInt64() > 0, Bounded);
        var reservation = (await sme.GetFromJsonAsync<ReservationView>($"/api/v1/reservations/{reservationId}", WebCluster.Json))!;
        Assert.Equal(reservation.VoucherFen, held.Payload.GetProperty("data").GetProperty("heldFen").GetInt64());
        var poolUpdate = await poolOwner.WaitFor(Names.Hub.PoolUpdated, p => Data(p, "id") == pool.Id && p.GetProperty("data").GetProperty("activeReservations").GetInt32() == 1, Bounded);
        Assert.True(poolUpdate.Payload.GetProperty("seq").GetInt64() > pool.Version);

        // The stranger's own update travels the same path after the owner's: once it is in, the owner's would be too had they leaked.
        var strangerBid = await Created<BidView>(other.PostJson("/api/v1/bids", Body(_scenario.Order(model: "Ascend910B-64G", provinces: ["Tibet"])),
            Scenario.Unique("bid")));
        await stranger.WaitFor(Names.Hub.BidUpdated, p => Data(p, "id") == strangerBid.Id, Bounded);
        Assert.All(stranger.All, m => Assert.Equal((Names.Hub.BidUpdated, otherId), (m.Method, Data(m.Payload, "tenantId"))));
        Assert.DoesNotContain(owner.All, m => m.Payload.GetRawText().Contains(otherId, StringComparison.Ordinal));
        Assert.DoesNotContain(poolOwner.All, m => m.Method != Names.Hub.PoolUpdated);
    }

    [Fact]
    public async Task Regulator_aggregates_arrive_at_most_once_per_configured_interval_however_busy_the_market()
    {
        var (providerId, provider) = await _api.Provider("Shanxi");
        await _api.Pool(provider, providerId, model: "RTX4090-24G", gpus: 512, ask: 300);
        var (_, sme) = await _api.Tenant();
        await using var regulator = await web.Hub(Names.Roles.Regulator);
        // What arrived before the window (the pool's listing, say) is not counted in it.
        var earlier = regulator.Of(Names.Hub.UtilizationUpdated).Count;
        var started = DateTimeOffset.UtcNow;
        var before = (await regulator.Connection.InvokeAsync<JsonElement>("Snapshot")).GetProperty("utilization").GetProperty("fillsTotal").GetInt64();

        const int burst = 60;
        var bids = await Task.WhenAll(Enumerable.Range(0, burst).Select(i =>
            Created<BidView>(sme.PostJson("/api/v1/bids", Body(_scenario.Order(model: "RTX4090-24G", hours: 1, startInHours: 1 + i % 20, provinces: ["Shanxi"])),
                Scenario.Unique("bid")))));
        Assert.All(bids, b => Assert.Equal(BidState.Filled, b.State));
        await regulator.WaitFor(Names.Hub.UtilizationUpdated, p => p.GetProperty("data").GetProperty("fillsTotal").GetInt64() >= before + burst, Bounded);
        var window = DateTimeOffset.UtcNow - started;

        // The feed sends utilization at most once per tick of its timer (200 ms in the test cluster) and take-up at most
        // every 2 s: 60 fills are coalesced into a handful of aggregates. A window holds at most window / interval + 1
        // ticks, and one more when a late tick is made up at once (the timer keeps one missed tick), so + 2.
        var utilization = regulator.Of(Names.Hub.UtilizationUpdated).Count - earlier;
        var takeUp = regulator.Of(Names.Hub.TakeUpUpdated).Count;
        Assert.InRange(utilization, 1, (int)(window / TimeSpan.FromMilliseconds(200)) + 2);
        Assert.InRange(takeUp, 0, (int)(window / TimeSpan.FromSeconds(2)) + 1);
        var versions = regulator.Of(Names.Hub.UtilizationUpdated).Select(m => m.Payload.GetProperty("seq").GetInt64()).ToList();
        Assert.Equal(versions.Order().Distinct(), versions);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task After_a_reconnect_the_snapshot_and_later_updates_lose_nothing_and_apply_nothing_twice(bool messagePack)
    {
        var (tenantId, sme) = await _api.Tenant();
        await using var hub = await web.Hub(Names.Roles.Sme, tenantId: tenantId, messagePack: messagePack);
        var held = new HeldBids();
        held.ApplySnapshot(await hub.Connection.InvokeAsync<MarketSnapshot>("Snapshot"));

        // Bids in a province with no capacity rest, so they can be changed (cancelled) later.
        var first = await RestingBid(sme);
        await hub.WaitFor(Names.Hub.BidUpdated, p => Data(p, "id") == first.Id, Bounded);
        held.ApplyPushes(hub.All);

        await hub.Connection.StopAsync();
        await Ok(sme.DeleteAsync($"/api/v1/bids/{first.Id}"));
        var missed = await RestingBid(sme);
        await hub.Connection.StartAsync();
        var pushedBefore = hub.All.Count;

        // A bid placed while the snapshot is taken may arrive both in the snapshot and as a push: applied once either way.
        var crossing = RestingBid(sme);
        held.ApplySnapshot(await hub.Connection.InvokeAsync<MarketSnapshot>("Snapshot"));
        var crossed = await crossing;
        var after = await RestingBid(sme);
        await Ok(sme.DeleteAsync($"/api/v1/bids/{missed.Id}"));
        await hub.WaitFor(Names.Hub.BidUpdated, p => Data(p, "id") == crossed.Id, Bounded);
        await hub.WaitFor(Names.Hub.BidUpdated, p => Data(p, "id") == after.Id, Bounded);
        await hub.WaitFor(Names.Hub.BidUpdated, p => Data(p, "id") == missed.Id && State<BidState>(p) == BidState.Cancelled, Bounded);
        held.ApplyPushes(hub.All.Skip(pushedBefore));

        var truth = (await sme.GetFromJsonAsync<List<BidView>>("/api/v1/tenants/me/bids", WebCluster.Json))!
            .ToDictionary(b => b.Id, b => (b.Version, b.State.ToString()));
        Assert.Equal(truth.OrderBy(t => t.Key), held.Bids.OrderBy(b => b.Key));
        Assert.Equal(held.Applied.Distinct(), held.Applied);
        Assert.Equal(nameof(BidState.Cancelled), held.Bids[first.Id].State);
    }

    private async Task<BidView> RestingBid(HttpClient sme) =>
        await Created<BidView>(sme.PostJson("/api/v1/bids", Body(_scenario.Order(tif: TimeInForce.Gtc, windowHours: 24, provinces: ["Tibet"])),
            Scenario.Unique("bid")));

    /// <summary>The client's rule from PushMessage: hold each bid at its version, apply only a higher one.</summary>
    private sealed class HeldBids
    {
        public Dictionary<string, (long Version, string State)> Bids { get; } = [];
        public List<(string Id, long Version)> Applied { get; } = [];

        public void ApplySnapshot(MarketSnapshot snapshot)
        {
            foreach (var bid in snapshot.Bids!)
            {
                Apply(bid.Id, bid.Version, bid.State.ToString());
            }
        }

        public void ApplyPushes(IEnumerable<Received> messages)
        {
            foreach (var message in messages.Where(m => m.Method == Names.Hub.BidUpdated))
            {
                Apply(Data(message.Payload, "id")!, message.Payload.GetProperty("seq").GetInt64(), State<BidState>(message.Payload).ToString());
            }
        }

        private void Apply(string id, long version, string state)
        {
            if (Bids.TryGetValue(id, out var current) && current.Version >= version)
            {
                return;
            }
            Bids[id] = (version, state);
            Applied.Add((id, version));
        }
    }

    private static string? Data(JsonElement payload, string property) => payload.GetProperty("data").GetProperty(property).GetString();

    /// <summary>JSON carries a state's name, MessagePack its number.</summary>
    private static T State<T>(JsonElement payload) where T : struct, Enum => payload.GetProperty("data").GetProperty("state") is { ValueKind: JsonValueKind.Number } number
        ? (T)Enum.ToObject(typeof(T), number.GetInt32())
        : Enum.Parse<T>(payload.GetProperty("data").GetProperty("state").GetString()!);

    private static object Body(BidOrder order) => new
    {
        order.GpuModel, order.GpuCount, order.DurationHours, order.EarliestStart, order.LatestStart, order.MaxFenPerGpuHour,
        order.AllowedProvinces, order.VoucherId, TimeInForce = order.TimeInForce.ToString(), order.GoodUntil,
    };

    private static async Task<T> Created<T>(Task<HttpResponseMessage> request)
    {
        using var response = await request;
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        return await response.Read<T>();
    }

    private static async Task Ok(Task<HttpResponseMessage> request)
    {
        using var response = await request;
        Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
    }
}
