using System.Net;
using System.Net.Http.Json;
using Marketplace.Testing;
using Xunit;

namespace Marketplace.System.Tests;

/// <summary>Pushes reach the web tier from every silo, not only from the one its client happened to connect to first.</summary>
public sealed class MultiSiloPushTests : IAsyncLifetime
{
    private ProcessCluster _system = null!;

    public async Task InitializeAsync() => _system = await ProcessCluster.StartAsync(silos: 3, label: "multipush");

    public async Task DisposeAsync() => await _system.DisposeAsync();

    [Fact]
    public async Task Every_pool_pushes_its_update_whichever_silo_it_lives_on()
    {
        var providerId = Scenario.Unique("prov");
        using var provider = await _system.ClientAsync(Names.Roles.Provider, providerId: providerId);
        var registered = await MarketSeed.RegisterProviderAsync(provider, "Ningxia", "zw-1");
        Assert.Equal(HttpStatusCode.OK, registered.StatusCode);
        await MarketSeed.VerifyAsync(_system, "providers", providerId);
        await using var hub = await _system.HubAsync(Names.Roles.Provider, providerId: providerId);

        // Sixteen pools land on the three silos by random placement: the chance that all sit on one silo is 3 in 43 million.
        var poolIds = Enumerable.Range(0, 16).Select(i => $"{providerId}-{i}").ToList();
        foreach (var (poolId, i) in poolIds.Select((p, i) => (p, i)))
        {
            var listed = await provider.PostAsJsonAsync($"/api/v1/providers/{providerId}/pools",
                new { poolId, siteId = "zw-1", gpuModel = GpuModels.Known[i % GpuModels.Known.Count], gpuCount = 8, askFenPerGpuHour = 900 + i });
            Assert.Equal(HttpStatusCode.Created, listed.StatusCode);
        }

        foreach (var poolId in poolIds)
        {
            await hub.WaitFor(Names.Hub.PoolUpdated, p => p.GetProperty("data").GetProperty("id").GetString() == poolId, TimeSpan.FromSeconds(20));
        }
    }
}
