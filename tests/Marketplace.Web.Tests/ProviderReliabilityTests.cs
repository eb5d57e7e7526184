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
        var pool = await _s.ProviderWithPool("Heilongjiang", "Ascend910B-64G", gpus: 2, ask: 900);
        var (tenant, _) = await _s.Tenant();
        var market = web.Grains.GetGrain<IMarketGrain>("Ascend910B-64G");
        var kept = (await _s.Bid(tenant, _s.Order(gpus: 2, hours: 4, startInHours: 3, maxPrice: 900, model: "Ascend910B-64G", provinces: ["Heilongjiang"]))).Fills.Single();
        var cancelled = (await _s.Bid(tenant, _s.Order(gpus: 1, hours: 2, startInHours: 10, maxPrice: 900, model: "Ascend910B-64G", provinces: ["Heilongjiang"]))).Fills.Single();
        await market.CancelReservation(cancelled.ReservationId, tenant);

        // The last three of the four hours: 2 GPUs × 3 h lost of 2 × 4 booked.
        var outage = new Outage(Scenario.Unique("outage"), kept.StartsAt.AddHours(1), kept.StartsAt.AddHours(6), "power");
        await web.Grains.GetGrain<IProviderGrain>(pool.ProviderId).DeclareOutage(new OutageRequest(pool.Id, null, outage));

        var reliability = await web.Provider(pool.ProviderId).GetFromJsonAsync<JsonElement>($"/api/v1/providers/{pool.ProviderId}/reliability");
        Assert.Equal((1L, 1L, 8L, 6L, 2_500), (reliability.GetProperty("reservations").GetInt64(), reliability.GetProperty("interrupted").GetInt64(),
            reliability.GetProperty("bookedGpuHours").GetInt64(), reliability.GetProperty("lostGpuHours").GetInt64(),
            reliability.GetProperty("deliveredBasisPoints").GetInt32()));
        Assert.Equal(HttpStatusCode.OK, (await web.Regulator().GetAsync($"/api/v1/providers/{pool.ProviderId}/reliability")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await web.Sme(tenant).GetAsync($"/api/v1/providers/{pool.ProviderId}/reliability")).StatusCode);
    }
}
