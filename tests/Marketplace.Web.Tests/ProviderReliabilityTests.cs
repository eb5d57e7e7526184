using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Marketplace.Grains;
using Marketplace.Testing;
using Xunit;

namespace Marketplace.Web.Tests;

/// <summary>A provider's record of delivery: what its outages took from what it sold, for itself and the regulator.</summary>
[Collection(PlatformCollection.Name)]
public sealed class ProviderReliabilityTests(PlatformCluster web)
{
    private readonly Scenario _s = new(web);

    [Fact]
    public async Task Rule6_an_outage_counts_against_the_provider_that_declares_it_and_a_tenants_cancellation_does_not()
    {
        var pool = await _s.ProviderWithPool("Heilongjiang", "Ascend910B-64G", gpus: 8, ask: 900);
        var (tenant, _) = await _s.Tenant();
        var market = web.Grains.GetGrain<IMarketGrain>("Ascend910B-64G");
        var kept = (await _s.Bid(tenant, _s.Order(gpus: 8, hours: 16, startInHours: 3, maxPrice: 900, model: "Ascend910B-64G", provinces: ["Heilongjiang"]))).Fills.Single();
        var cancelled = (await _s.Bid(tenant, _s.Order(gpus: 1, hours: 2, startInHours: 20, maxPrice: 900, model: "Ascend910B-64G", provinces: ["Heilongjiang"]))).Fills.Single();
        await market.CancelReservation(cancelled.ReservationId, tenant);

        // The last two of the sixteen hours: 8 GPUs × 2 h lost of 8 × 16 booked, so 112 of 128 GPU-hours delivered.
        var outage = new Outage(Scenario.Unique("outage"), kept.StartsAt.AddHours(14), kept.StartsAt.AddHours(20), "power");
        await web.Grains.GetGrain<IProviderGrain>(pool.ProviderId).DeclareOutage(new OutageRequest(pool.Id, null, outage));

        var reliability = await web.Provider(pool.ProviderId).GetFromJsonAsync<JsonElement>($"/api/v1/providers/{pool.ProviderId}/reliability");
        Assert.Equal((1L, 1L, 128L, 16L, 8_750), (reliability.GetProperty("reservations").GetInt64(), reliability.GetProperty("interrupted").GetInt64(),
            reliability.GetProperty("bookedGpuHours").GetInt64(), reliability.GetProperty("lostGpuHours").GetInt64(),
            reliability.GetProperty("scoreBasisPoints").GetInt32()));
        Assert.Equal(HttpStatusCode.OK, (await web.Regulator().GetAsync($"/api/v1/providers/{pool.ProviderId}/reliability")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await web.Sme(tenant).GetAsync($"/api/v1/providers/{pool.ProviderId}/reliability")).StatusCode);
    }

    /// <summary>
    /// Hardening issue 17 through the API: the quote names the offer's provider's score, a bid may require a minimum
    /// (checked 0..10000 like every other field), and the fill keeps the score the provider had when it filled.
    /// </summary>
    [Fact]
    public async Task A_quote_and_a_fill_carry_the_providers_score_and_a_bid_may_require_a_minimum()
    {
        const string model = "HygonZ100-32G";
        var (cheapProvider, _) = await _s.Provider([Scenario.Site("Jilin")]);
        var (reliableProvider, _) = await _s.Provider([Scenario.Site("Jilin", "site-2")]);
        var cheap = await _s.Pool(cheapProvider, model, gpus: 8, ask: 800);
        var reliable = await _s.Pool(reliableProvider, model, gpus: 8, ask: 1_000, siteId: "site-2");
        var (tenant, _) = await _s.Tenant();
        var sme = web.Sme(tenant);
        var first = await _s.Bid(tenant, _s.Order(gpus: 8, hours: 16, startInHours: 2, maxPrice: 800, model: model, provinces: ["Jilin"]));
        await _s.Bid(tenant, _s.Order(gpus: 8, hours: 16, startInHours: 2, maxPrice: 1_000, model: model, provinces: ["Jilin"]));
        await web.Grains.GetGrain<IProviderGrain>(reliableProvider).RecordChanged();
        var outage = new Outage(Scenario.Unique("outage"), first.Fills.Single().StartsAt.AddHours(8), first.Fills.Single().StartsAt.AddHours(20), "power");
        await web.Grains.GetGrain<IProviderGrain>(cheapProvider).DeclareOutage(new OutageRequest(cheap.Id, null, outage));

        var start = Hours.ToTime(Hours.Floor(_s.Now) + 30);
        object Body(int? minimum) => new
        {
            gpuModel = model, gpuCount = 1, durationHours = 2, earliestStart = start, latestStart = start, maxFenPerGpuHour = 1_000,
            allowedProvinces = new[] { "Jilin" }, timeInForce = "IOC", minReliabilityBasisPoints = minimum,
        };
        var plain = await (await sme.PostJson("/api/v1/quotes", Body(null))).Read<Quote>();
        Assert.Equal((cheap.Id, (int?)5_000), (plain.PoolId, plain.ProviderReliabilityBasisPoints)); // 64 of 128 GPU-hours delivered
        var demanding = await (await sme.PostJson("/api/v1/quotes", Body(9_000))).Read<Quote>();
        Assert.Equal((reliable.Id, (int?)10_000), (demanding.PoolId, demanding.ProviderReliabilityBasisPoints));

        var placed = await sme.PostJson("/api/v1/bids", Body(9_000), Scenario.Unique("key"));
        Assert.Equal(HttpStatusCode.Created, placed.StatusCode);
        var bid = await placed.Read<BidView>();
        Assert.Equal((reliable.Id, (int?)10_000, (int?)9_000), (bid.Fills.Single().PoolId, bid.Fills.Single().ProviderReliabilityBasisPoints, bid.Order.MinReliabilityBasisPoints));

        // Above 100 % is outside the document's bounds: sent without the contract check, as a client that ignores it would.
        using var outOfBounds = web.Client(Names.Roles.Sme, tenantId: tenant, checkContract: false);
        var refused = await outOfBounds.PostJson("/api/v1/bids", Body(10_001), Scenario.Unique("key"));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, refused.StatusCode);
        Assert.Contains("minReliabilityBasisPoints", await refused.Content.ReadAsStringAsync());
    }

    /// <summary>
    /// Rule 9 with issue 17's minimum: a compute bid passes its minimum to every candidate model's market, so it fills the
    /// cheapest model per PFLOPS-hour among the providers that meet it, and the cheapest of all without one.
    /// </summary>
    [Fact]
    public async Task A_compute_bid_with_a_minimum_reliability_skips_the_cheapest_model_when_its_provider_falls_short()
    {
        const string province = "Liaoning";
        var (h800Provider, _) = await _s.Provider([Scenario.Site(province)]);
        var (l40sProvider, _) = await _s.Provider([Scenario.Site(province, "site-2")]);
        // Per PFLOPS-hour the H800 is the cheaper: ceil(1,500,000 / 989) = 1,517 fen against ceil(700,000 / 362) = 1,934.
        var h800 = await _s.Pool(h800Provider, "H800-80G", gpus: 16, ask: 1_500);
        var l40s = await _s.Pool(l40sProvider, "L40S-48G", gpus: 16, ask: 700, siteId: "site-2");
        var (tenant, _) = await _s.Tenant();
        var booked = await _s.Bid(tenant, _s.Order(gpus: 8, hours: 16, startInHours: 2, maxPrice: 1_500, model: "H800-80G", provinces: [province]));
        await _s.Bid(tenant, _s.Order(gpus: 8, hours: 16, startInHours: 2, maxPrice: 700, model: "L40S-48G", provinces: [province]));
        await web.Grains.GetGrain<IProviderGrain>(l40sProvider).RecordChanged();
        // Half of the H800 provider's 128 booked GPU-hours lost: 5,000 basis points.
        var startsAt = booked.Fills.Single().StartsAt;
        await web.Grains.GetGrain<IProviderGrain>(h800Provider).DeclareOutage(
            new OutageRequest(h800.Id, null, new Outage(Scenario.Unique("outage"), startsAt.AddHours(8), startsAt.AddHours(20), "power")));

        var start = Hours.ToTime(Hours.Floor(_s.Now) + 30);
        object Body(int? minimum) => new
        {
            pflopsHours = 2, durationHours = 2, earliestStart = start, latestStart = start, maxFenPerPflopsHour = 2_000,
            allowedProvinces = new[] { province }, timeInForce = "IOC", minReliabilityBasisPoints = minimum,
        };
        var sme = web.Sme(tenant);
        var demanding = await (await sme.PostJson("/api/v1/bids", Body(9_000), Scenario.Unique("key"))).Read<BidView>();
        var fill = demanding.Fills.Single();
        Assert.Equal((BidState.Filled, "L40S-48G", l40s.Id, (int?)10_000), (demanding.State, demanding.Order.GpuModel, fill.PoolId, fill.ProviderReliabilityBasisPoints));

        var anyone = await (await sme.PostJson("/api/v1/bids", Body(null), Scenario.Unique("key"))).Read<BidView>();
        Assert.Equal((BidState.Filled, "H800-80G", h800.Id, (int?)5_000), (anyone.State, anyone.Order.GpuModel, anyone.Fills.Single().PoolId,
            anyone.Fills.Single().ProviderReliabilityBasisPoints));
    }
}
