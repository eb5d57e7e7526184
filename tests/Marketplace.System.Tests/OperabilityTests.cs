using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Marketplace.Testing;
using Xunit;

namespace Marketplace.System.Tests;

/// <summary>What operators see of real processes: health, Prometheus metrics, structured logs and the Orleans dashboard.</summary>
public sealed class OperabilityTests : IAsyncLifetime
{
    private ProcessCluster _system = null!;

    public async Task InitializeAsync() => _system = await ProcessCluster.StartAsync(
        siloSettings: new Dictionary<string, string?> { ["Logging__LogLevel__Marketplace"] = "Information" }, label: "operability");

    public async Task DisposeAsync() => await _system.DisposeAsync();

    [Fact]
    public async Task Silos_and_the_web_tier_expose_health_metrics_and_logs_that_name_the_bid()
    {
        // A provider whose pool a voucher-funded bid cannot use (the provider is not approved): a logged refusal.
        var providerId = Scenario.Unique("prov");
        using var provider = await _system.ClientAsync(Names.Roles.Provider, providerId: providerId);
        (await MarketSeed.RegisterProviderAsync(provider, "Ningxia", "zw-1")).EnsureSuccessStatusCode();
        await MarketSeed.VerifyAsync(_system, "providers", providerId);
        (await provider.PostAsJsonAsync($"/api/v1/providers/{providerId}/pools", new { siteId = "zw-1", gpuModel = "H20-96G", gpuCount = 8, askFenPerGpuHour = 800 }))
            .EnsureSuccessStatusCode();
        using var admin = await _system.ClientAsync(Names.Roles.Admin);
        var opens = DateTimeOffset.UtcNow.AddDays(-1);
        (await admin.PostAsJsonAsync("/api/v1/programs", new
        {
            id = "nx-ops", name = "Ops test", issuer = "Test", province = "Beijing", claimOpensAt = opens, claimClosesAt = opens.AddYears(1),
            budgetFen = 10_000_000, voucherCapFen = 1_000_000, coverageBasisPoints = 5000, allowedTenantKinds = new[] { "Sme" },
            registrationDeadlineDays = 15, validityDays = 90,
        })).EnsureSuccessStatusCode();
        var tenantId = Scenario.Unique("tenant");
        using var sme = await _system.ClientAsync(Names.Roles.Sme, tenantId: tenantId);
        (await sme.PostAsJsonAsync("/api/v1/tenants", new { name = "Acme", kind = "Sme", province = "Beijing", creditCode = Scenario.NewCreditCode() })).EnsureSuccessStatusCode();
        await MarketSeed.VerifyAsync(_system, "tenants", tenantId);
        await MarketSeed.TopUpAsync(_system, tenantId);
        var voucher = await (await sme.PostAsJsonAsync("/api/v1/programs/nx-ops/vouchers", new { })).Content.ReadFromJsonAsync<JsonElement>();
        var voucherId = voucher.GetProperty("id").GetString();
        (await sme.PostAsJsonAsync($"/api/v1/vouchers/{voucherId}/activity", new { title = "Eval", description = "Evaluate", plannedGpuHours = 10 })).EnsureSuccessStatusCode();
        var start = Hours.ToTime(Hours.Floor(DateTimeOffset.UtcNow) + 3);
        var bid = await (await sme.PostAsJsonAsync("/api/v1/bids", new
        {
            gpuModel = "H20-96G", gpuCount = 1, durationHours = 1, earliestStart = start, latestStart = start, maxFenPerGpuHour = 900,
            voucherId, timeInForce = "IOC", clientOrderId = "ops-1",
        })).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("provider-not-approved", bid.GetProperty("reasonCode").GetString());
        var bidId = bid.GetProperty("id").GetString()!;
        // The same paid in cash fills: a saga ran.
        var cash = await (await sme.PostAsJsonAsync("/api/v1/bids", new
        {
            gpuModel = "H20-96G", gpuCount = 1, durationHours = 1, earliestStart = start, latestStart = start, maxFenPerGpuHour = 900,
            timeInForce = "IOC", clientOrderId = "ops-2",
        })).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("Filled", cash.GetProperty("state").GetString());

        using var silo = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{_system.SiloHttpPorts[0]}") };
        Assert.Equal("Healthy", await silo.GetStringAsync("/healthz"));
        var siloMetrics = await silo.GetStringAsync("/metrics");
        Assert.Contains("marketplace_bids_accepted_total", siloMetrics);
        Assert.Contains(siloMetrics.Split('\n'), l => l.StartsWith("marketplace_bids_ended_total{", StringComparison.Ordinal)
            && l.Contains("reason=\"provider-not-approved\"", StringComparison.Ordinal) && l.EndsWith(" 1", StringComparison.Ordinal));
        Assert.Contains("marketplace_saga_duration_milliseconds_bucket", siloMetrics);
        Assert.Contains("orleans", siloMetrics);
        // The runtime's and the process's meters, in both processes.
        using var web = new HttpClient { BaseAddress = _system.WebUrl };
        var webMetrics = await web.GetStringAsync("/metrics");
        foreach (var metrics in new[] { siloMetrics, webMetrics })
        {
            Assert.Contains("dotnet_gc_collections_total", metrics);
            Assert.Contains("process_cpu_time_seconds_total", metrics);
        }

        Assert.Contains("http_server_request_duration_seconds", webMetrics);

        // The silo logs as JSON, and the refusal's line carries the bid it concerns.
        var line = _system.Silos[0]!.Output.First(l => l.Contains("Rejected: provider-not-approved", StringComparison.Ordinal));
        using var log = JsonDocument.Parse(line);
        var scopes = log.RootElement.GetProperty("Scopes").EnumerateArray().Select(s => s.ToString()).ToList();
        Assert.Contains(scopes, s => s.Contains(bidId, StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_orleans_dashboard_is_for_admins_only()
    {
        using var anonymous = new HttpClient { BaseAddress = _system.WebUrl };
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/dashboard/")).StatusCode);

        using var sme = await _system.ClientAsync(Names.Roles.Sme, tenantId: "t-1");
        Assert.Equal(HttpStatusCode.Forbidden, (await sme.GetAsync("/dashboard/")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await sme.PostAsync("/api/v1/auth/session", null)).StatusCode);

        var cookies = new CookieContainer();
        using var handler = new HttpClientHandler { CookieContainer = cookies };
        using var browser = new HttpClient(handler) { BaseAddress = _system.WebUrl };
        browser.DefaultRequestHeaders.Authorization = new("Bearer", await _system.TokenAsync(Names.Roles.Admin));
        Assert.Equal(HttpStatusCode.NoContent, (await browser.PostAsync("/api/v1/auth/session", null)).StatusCode);
        browser.DefaultRequestHeaders.Authorization = null; // as a browser opening the page: only the cookie
        var page = await browser.GetAsync("/dashboard/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("text/html", page.Content.Headers.ContentType!.ToString());
    }
}

/// <summary>The silo's /healthz tells an orchestrator whether the silo can serve, not merely that its process lives.</summary>
public sealed class SiloHealthTests
{
    [Fact]
    public async Task The_silo_is_unhealthy_while_its_database_does_not_answer_and_healthy_again_when_it_does()
    {
        await using var postgres = await PrivatePostgres.StartAsync("health");
        await using var system = await ProcessCluster.StartAsync(silos: 1, label: "health", server: postgres.ServerConnectionString);
        using var silo = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{system.SiloHttpPorts[0]}"), Timeout = TimeSpan.FromSeconds(10) };
        // Started and joined: an active member whose database answers.
        Assert.Equal((HttpStatusCode.OK, "Healthy"), await HealthAsync(silo));

        await postgres.StopAsync();
        Assert.Equal((HttpStatusCode.ServiceUnavailable, "Unhealthy"), await WaitForHealthAsync(silo, HttpStatusCode.ServiceUnavailable));

        await postgres.StartAgainAsync();
        Assert.Equal((HttpStatusCode.OK, "Healthy"), await WaitForHealthAsync(silo, HttpStatusCode.OK));
    }

    private static async Task<(HttpStatusCode, string)> HealthAsync(HttpClient silo)
    {
        var response = await silo.GetAsync("/healthz");
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    /// <summary>Probes as an orchestrator does, until the answer has the status expected or 30 s have passed.</summary>
    private static async Task<(HttpStatusCode, string)> WaitForHealthAsync(HttpClient silo, HttpStatusCode expected)
    {
        var deadline = DateTimeOffset.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            var answer = await HealthAsync(silo);
            if (answer.Item1 == expected || DateTimeOffset.UtcNow > deadline)
            {
                return answer;
            }
            await Task.Delay(200);
        }
    }
}
