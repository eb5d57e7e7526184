using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Marketplace.Grains;
using Marketplace.Testing;
using Xunit;

namespace Marketplace.Web.Tests;

/// <summary>What the provider console changes: a pool edited from the version it read, and an outage ended early.</summary>
[Collection(PlatformCollection.Name)]
public sealed class ProviderConsoleApiTests(PlatformCluster web)
{
    private readonly Scenario _s = new(web);

    private static HttpRequestMessage Patch(string url, long version, object body) => new(HttpMethod.Patch, url)
    {
        Content = JsonContent.Create(body),
        Headers = { { "If-Match", $"\"{version}\"" } },
    };

    private static async Task<string> CodeOf(HttpResponseMessage response) =>
        (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString()!;

    [Fact]
    public async Task Two_edits_from_the_same_version_the_second_is_refused_with_412_and_the_pool_keeps_the_first()
    {
        var pool = await _s.ProviderWithPool("Ningxia", gpus: 8, ask: 1_500);
        var provider = web.Provider(pool.ProviderId);
        var url = $"/api/v1/providers/{pool.ProviderId}/pools/{pool.Id}";

        var first = await provider.SendAsync(Patch(url, pool.Version, new { askFenPerGpuHour = 1_800, gpuCount = 6 }));
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        var changed = (await first.Content.ReadFromJsonAsync<PoolView>())!;
        Assert.Equal($"\"{changed.Version}\"", first.Headers.ETag?.ToString());

        var second = await provider.SendAsync(Patch(url, pool.Version, new { askFenPerGpuHour = 1_200, gpuCount = 4 }));
        Assert.Equal(HttpStatusCode.PreconditionFailed, second.StatusCode);
        Assert.Equal("pool-version-changed", await CodeOf(second));

        var now = (await web.Grains.GetGrain<IGpuPoolGrain>(pool.Id).Get())!;
        Assert.Equal((1_800L, 6, changed.Version), (now.AskFenPerGpuHour, now.GpuCount, now.Version));
    }

    [Fact]
    public async Task A_provider_ends_its_outage_early_and_another_provider_cannot()
    {
        var pool = await _s.ProviderWithPool("Qinghai", gpus: 8, ask: 1_500);
        var other = await _s.ProviderWithPool("Qinghai", gpus: 8, ask: 1_500);
        var now = web.Clock.GetUtcNow();
        var outageId = Scenario.Unique("outage");
        await web.Grains.GetGrain<IProviderGrain>(pool.ProviderId)
            .DeclareOutage(new OutageRequest(pool.Id, null, new Outage(outageId, now.AddHours(-1), now.AddHours(5), "cooling")));

        var theirs = await web.Provider(other.ProviderId).PostAsync($"/api/v1/providers/{pool.ProviderId}/outages/{outageId}/end", null);
        Assert.Equal(HttpStatusCode.NotFound, theirs.StatusCode);
        var wrongOwner = await web.Provider(other.ProviderId).PostAsync($"/api/v1/providers/{other.ProviderId}/outages/{outageId}/end", null);
        Assert.Equal(HttpStatusCode.NotFound, wrongOwner.StatusCode);
        Assert.Equal("not-found", await CodeOf(wrongOwner));
        Assert.Equal(now.AddHours(5), Assert.Single((await web.Grains.GetGrain<IGpuPoolGrain>(pool.Id).Get())!.Outages).To);

        var ended = await web.Provider(pool.ProviderId).PostAsync($"/api/v1/providers/{pool.ProviderId}/outages/{outageId}/end", null);
        Assert.Equal(HttpStatusCode.OK, ended.StatusCode);
        var body = (await ended.Content.ReadFromJsonAsync<OutageEnded>())!;
        Assert.Equal((outageId, pool.Id, web.Clock.GetUtcNow()), (body.OutageId, Assert.Single(body.PoolIds), body.EndsAt));
        Assert.Equal(web.Clock.GetUtcNow(), Assert.Single((await web.Grains.GetGrain<IGpuPoolGrain>(pool.Id).Get())!.Outages).To);

        var again = await web.Provider(pool.ProviderId).PostAsync($"/api/v1/providers/{pool.ProviderId}/outages/{outageId}/end", null);
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        Assert.Equal("outage-over", await CodeOf(again));
    }
}
