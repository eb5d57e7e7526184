using System.Net;
using System.Text.Json;
using Marketplace.Testing;
using Xunit;

namespace Marketplace.Web.Tests;

/// <summary>
/// The web tier reads only public views: it references the shared data project, never the grains' storage, and what it
/// lists is what the grains answered (the view each row keeps beside its state).
/// </summary>
[Collection(PlatformCollection.Name)]
public sealed class PublicViewTests(PlatformCluster web)
{
    // A model no other test of the collection trades, so no other test's bid fills in this pool or this test's in theirs.
    private const string Model = "KunlunR200-32G";

    [Fact]
    public void The_web_tier_references_the_shared_data_project_and_not_the_grains_storage()
    {
        var referenced = typeof(Queries.ReadModels).Assembly.GetReferencedAssemblies().Select(a => a.Name).ToList();
        Assert.Contains("Marketplace.Data", referenced);
        Assert.DoesNotContain("Marketplace.Storage", referenced);
    }

    [Fact]
    public async Task A_listed_bid_and_reservation_are_what_the_api_answered_when_the_bid_was_placed()
    {
        var api = new Api(web);
        var (providerId, provider) = await api.Provider("Hebei");
        await api.Pool(provider, providerId, Model, gpus: 8, ask: 2_000);
        var (_, sme) = await api.Tenant();
        var start = Hours.ToTime(Hours.FirstBookable(web.Clock.GetUtcNow()) + 2);

        var filledResponse = await sme.PostJson("/api/v1/bids", Order(start, maxFenPerGpuHour: 3_000), Scenario.Unique("bid"));
        Assert.True(filledResponse.StatusCode == HttpStatusCode.Created, await filledResponse.Content.ReadAsStringAsync());
        var filled = await Body(filledResponse);
        Assert.Equal("Filled", filled.GetProperty("state").GetString());
        var rejectedResponse = await sme.PostJson("/api/v1/bids", Order(start, maxFenPerGpuHour: 1), Scenario.Unique("bid"));
        Assert.True(rejectedResponse.StatusCode == HttpStatusCode.Created, await rejectedResponse.Content.ReadAsStringAsync());
        var rejected = await Body(rejectedResponse);
        Assert.Equal("Rejected", rejected.GetProperty("state").GetString());

        // Both were placed at the same moment: the list orders them by id.
        var bids = (await Body(await sme.GetAsync("/api/v1/tenants/me/bids"))).EnumerateArray().Select(b => b.GetRawText()).ToList();
        Assert.Equal(new[] { filled, rejected }.OrderBy(b => b.GetProperty("id").GetString(), StringComparer.Ordinal).Select(b => b.GetRawText()), bids);

        var reservationId = Assert.Single(filled.GetProperty("fills").EnumerateArray()).GetProperty("reservationId").GetString()!;
        var reservation = await Body(await sme.GetAsync($"/api/v1/reservations/{reservationId}"));
        var reservations = (await Body(await sme.GetAsync("/api/v1/tenants/me/reservations"))).EnumerateArray().ToList();
        Assert.Equal([reservation.GetRawText()], reservations.Select(r => r.GetRawText()));
    }

    private static object Order(DateTimeOffset start, long maxFenPerGpuHour) => new
    {
        gpuModel = Model, gpuCount = 2, durationHours = 3, earliestStart = start, latestStart = start, maxFenPerGpuHour, timeInForce = "IOC",
    };

    private static async Task<JsonElement> Body(HttpResponseMessage response)
    {
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
    }
}
