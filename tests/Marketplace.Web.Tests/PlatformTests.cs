using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Marketplace.Testing;
using Microsoft.AspNetCore.SignalR.Client;
using Xunit;

namespace Marketplace.Web.Tests;

/// <summary>The walking skeleton end to end: web tier, cluster, PostgreSQL and the hub.</summary>
[Collection(PlatformCollection.Name)]
public sealed class PlatformTests(PlatformCluster web)
{
    private readonly Api _api = new(web);

    [Fact]
    public async Task Healthz_answers_for_the_process_and_readyz_for_the_cluster_and_database()
    {
        var client = web.Client();
        Assert.Equal("Healthy", await client.GetStringAsync("/healthz"));
        Assert.Equal("Healthy", await client.GetStringAsync("/readyz"));
    }

    [Fact]
    public async Task The_api_is_described_by_an_openapi_document_and_a_browsable_page()
    {
        var client = web.Client();
        using var document = JsonDocument.Parse(await client.GetStringAsync("/openapi/v1.json"));
        var paths = document.RootElement.GetProperty("paths");
        Assert.True(paths.TryGetProperty("/api/v1/bids", out _));
        Assert.True(paths.TryGetProperty("/api/v1/providers/{id}/pools", out _));
        var page = await client.GetAsync("/scalar/v1");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("text/html", page.Content.Headers.ContentType!.ToString());
    }

    [Fact]
    public async Task Served_over_https_every_answer_tells_the_browser_to_stay_on_https()
    {
        // The in-memory test server takes the scheme from the address, as Kestrel does from its HTTPS endpoint.
        using var client = web.Factory.CreateClient(new Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactoryClientOptions { BaseAddress = new Uri("https://localhost") });
        foreach (var path in new[] { "/", "/api/v1/markets" })
        {
            using var response = await client.GetAsync(path);
            Assert.Equal("max-age=31536000", Assert.Single(response.Headers.GetValues("Strict-Transport-Security")));
        }
    }

    [Fact]
    public async Task Static_files_are_served_with_the_security_headers()
    {
        var response = await web.Client().GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("script-src 'self'", response.Headers.GetValues("Content-Security-Policy").Single());
        Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
        Assert.Equal("DENY", response.Headers.GetValues("X-Frame-Options").Single());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_provider_lists_a_pool_reads_it_back_and_its_hub_client_sees_it_change(bool messagePack)
    {
        var (providerId, provider) = await _api.Provider();
        await using var hub = await web.Hub(Names.Roles.Provider, providerId: providerId, messagePack: messagePack);
        var pool = await _api.Pool(provider, providerId, gpus: 16, ask: 2_000);

        var pools = await provider.GetFromJsonAsync<List<PoolView>>($"/api/v1/providers/{providerId}/pools", WebCluster.Json);
        var stored = Assert.Single(pools!);
        Assert.Equal((pool.Id, 16, 2_000L, "H800-80G"), (stored.Id, stored.GpuCount, stored.AskFenPerGpuHour, stored.GpuModel));

        var patch = await provider.PatchAsJsonAsync($"/api/v1/providers/{providerId}/pools/{pool.Id}", new { askFenPerGpuHour = 1_800 });
        Assert.Equal(HttpStatusCode.OK, patch.StatusCode);
        var update = await hub.WaitFor(Names.Hub.PoolUpdated, p => p.GetProperty("data").GetProperty("askFenPerGpuHour").GetInt64() == 1_800);
        Assert.Equal(pool.Id, update.Payload.GetProperty("data").GetProperty("id").GetString());
        Assert.True(update.Payload.GetProperty("seq").GetInt64() > pool.Version);
    }

    [Fact]
    public async Task A_pool_survives_a_restart_of_the_silo()
    {
        var (providerId, provider) = await _api.Provider();
        var pool = await _api.Pool(provider, providerId, gpus: 4, ask: 1_234);

        await web.RestartSilosAsync();

        var after = await provider.GetFromJsonAsync<List<PoolView>>($"/api/v1/providers/{providerId}/pools", WebCluster.Json);
        var stored = Assert.Single(after!);
        Assert.Equal((pool.Id, 4, 1_234L, pool.Version), (stored.Id, stored.GpuCount, stored.AskFenPerGpuHour, stored.Version));
    }

    [Fact]
    public async Task The_hub_refuses_an_unauthenticated_connection_and_a_foreign_group()
    {
        var anonymous = await web.Hub(Names.Roles.Sme, tenantId: "t-1", start: false);
        await using (anonymous)
        {
            var unauthenticated = new Microsoft.AspNetCore.SignalR.Client.HubConnectionBuilder()
                .WithUrl(new Uri(web.Factory.Server.BaseAddress, Names.Hub.Path), o =>
                {
                    o.HttpMessageHandlerFactory = _ => web.Factory.Server.CreateHandler();
                    o.Transports = Microsoft.AspNetCore.Http.Connections.HttpTransportType.LongPolling;
                })
                .Build();
            var refused = await Assert.ThrowsAsync<HttpRequestException>(() => unauthenticated.StartAsync());
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        }

        await using var hub = await web.Hub(Names.Roles.Sme, tenantId: "tenant-a");
        await hub.Connection.InvokeAsync("Join", Names.Hub.TenantGroup("tenant-a"));
        var error = await Assert.ThrowsAsync<Microsoft.AspNetCore.SignalR.HubException>(() => hub.Connection.InvokeAsync("Join", Names.Hub.TenantGroup("tenant-b")));
        Assert.Contains("may not join", error.Message);
        await Assert.ThrowsAsync<Microsoft.AspNetCore.SignalR.HubException>(() => hub.Connection.InvokeAsync("Join", Names.Hub.RegulatorGroup));
    }
}
