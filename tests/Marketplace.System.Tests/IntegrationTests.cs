using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Marketplace.Testing;
using Xunit;

namespace Marketplace.System.Tests;

/// <summary>The real silo and web processes, as ./run.sh starts them, over real sockets.</summary>
public sealed class IntegrationTests : IAsyncLifetime
{
    private ProcessCluster _system = null!;

    public async Task InitializeAsync() => _system = await ProcessCluster.StartAsync(label: "integration");

    public async Task DisposeAsync() => await _system.DisposeAsync();

    [Fact]
    public async Task The_processes_serve_the_pool_slice_push_it_live_and_keep_it_across_a_silo_crash()
    {
        using var anonymous = new HttpClient { BaseAddress = _system.WebUrl };
        Assert.Equal("Healthy", await anonymous.GetStringAsync("/readyz"));

        var providerId = Scenario.Unique("prov");
        using var provider = await _system.ClientAsync(Names.Roles.Provider, providerId: providerId);
        var registered = await MarketSeed.RegisterProviderAsync(provider, "Guizhou", "gy-1");
        Assert.Equal(HttpStatusCode.OK, registered.StatusCode);
        await MarketSeed.VerifyAsync(_system, "providers", providerId);

        // A real SignalR client over WebSockets, as a provider's dashboard connects.
        await using var hub = await _system.HubAsync(Names.Roles.Provider, providerId: providerId);

        var listed = await provider.PostAsJsonAsync($"/api/v1/providers/{providerId}/pools",
            new { poolId = $"{providerId}-h20", siteId = "gy-1", gpuModel = "H20-96G", gpuCount = 32, askFenPerGpuHour = 900 });
        Assert.Equal(HttpStatusCode.Created, listed.StatusCode);
        var pushed = await hub.WaitFor(Names.Hub.PoolUpdated, p => p.GetProperty("data").GetProperty("id").GetString() == $"{providerId}-h20",
            TimeSpan.FromSeconds(15));
        Assert.Equal(32, pushed.Payload.GetProperty("data").GetProperty("gpuCount").GetInt32());

        var before = await provider.GetFromJsonAsync<JsonElement>($"/api/v1/providers/{providerId}/pools");
        _system.Silos[0]!.Kill();
        _system.StartSilo(0);
        await _system.WaitUntilReadyAsync(TimeSpan.FromSeconds(60));

        var after = await Retry(() => provider.GetFromJsonAsync<JsonElement>($"/api/v1/providers/{providerId}/pools"));
        Assert.Equal(before[0].GetProperty("version").GetInt64(), after[0].GetProperty("version").GetInt64());
        Assert.Equal(32, after[0].GetProperty("gpuCount").GetInt32());
    }

    /// <summary>Right after a crash the web tier may still route to the dead silo for a moment: it answers 503, then recovers.</summary>
    private static async Task<T> Retry<T>(Func<Task<T>> call)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await call();
            }
            catch (HttpRequestException e) when (e.StatusCode == HttpStatusCode.ServiceUnavailable && attempt < 60)
            {
                await Task.Delay(500);
            }
        }
    }
}
