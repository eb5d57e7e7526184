using System.Globalization;
using System.Net;
using Marketplace.Testing;
using Marketplace.Web.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Marketplace.Security.Tests;

/// <summary>
/// One token bucket per tenant (or provider, or signed-in user, or address for anonymous callers): a burst of
/// <see cref="RateLimitCluster.Burst"/>, then 429 with Retry-After. The bucket refills by one a second, so each test
/// sends until it is refused (boundedly) rather than counting on the clock.
/// </summary>
[Collection(RateLimitCollection.Name)]
public sealed class RateLimitTests(RateLimitCluster web)
{
    private const int Attempts = 200;

    private HttpClient As(string role, string? tenant = null, string? provider = null, string? subject = null)
    {
        var client = web.Client();
        if (role.Length > 0)
        {
            var token = web.Factory.Services.GetRequiredService<TokenIssuer>().Issue(role, tenant, provider, subject);
            client.DefaultRequestHeaders.Authorization = new("Bearer", token);
        }
        return client;
    }

    /// <summary>Sends until the first 429 (at most <see cref="Attempts"/> requests); returns the statuses before it and the 429.</summary>
    private static async Task<(List<HttpStatusCode> Before, HttpResponseMessage Refused)> UntilRefused(HttpClient client, string url = "/api/v1/markets",
        string method = "GET")
    {
        var before = new List<HttpStatusCode>();
        for (var i = 0; i < Attempts; i++)
        {
            var response = await client.SendAsync(new HttpRequestMessage(new HttpMethod(method), url));
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                return (before, response);
            }
            before.Add(response.StatusCode);
        }
        throw new Xunit.Sdk.XunitException($"no 429 in {Attempts} requests");
    }

    [Fact]
    public async Task A_tenant_past_its_burst_gets_429_with_retry_after_and_a_problem()
    {
        var (before, refused) = await UntilRefused(As(Names.Roles.Sme, tenant: Scenario.Unique("tenant")));

        Assert.True(before.Count >= RateLimitCluster.Burst, $"only {before.Count} requests before the first 429");
        Assert.All(before, s => Assert.Equal(HttpStatusCode.OK, s));
        var retryAfter = int.Parse(Assert.Single(refused.Headers.GetValues("Retry-After")), CultureInfo.InvariantCulture);
        Assert.InRange(retryAfter, 1, 60);
        var problem = await refused.Problem();
        Assert.Equal("rate-limited", problem.Code());
        Assert.Equal("/problems/rate-limited", problem.GetProperty("type").GetString());
        Assert.Equal("nosniff", Assert.Single(refused.Headers.GetValues("X-Content-Type-Options")));
    }

    [Fact]
    public async Task A_tenant_whose_first_request_opens_the_hub_is_limited_all_the_same()
    {
        var client = As(Names.Roles.Sme, tenant: Scenario.Unique("tenant"));
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync($"{Names.Hub.Path}/negotiate?negotiateVersion=1", null)).StatusCode);
        var (before, refused) = await UntilRefused(client);
        Assert.True(before.Count >= RateLimitCluster.Burst);
        Assert.Equal("rate-limited", (await refused.Problem()).Code());
    }

    [Fact]
    public async Task Every_token_of_a_tenant_draws_on_the_same_bucket()
    {
        var tenant = Scenario.Unique("tenant");
        await UntilRefused(As(Names.Roles.Sme, tenant: tenant, subject: "first-user"));
        var second = As(Names.Roles.Sme, tenant: tenant, subject: "second-user");
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 3; i++)
        {
            statuses.Add((await second.GetAsync("/api/v1/markets")).StatusCode);
        }
        Assert.Contains(HttpStatusCode.TooManyRequests, statuses);
    }

    [Fact]
    public async Task A_busy_tenant_does_not_slow_other_tenants_or_a_provider_with_the_same_id()
    {
        var id = Scenario.Unique("acme");
        await UntilRefused(As(Names.Roles.Sme, tenant: id));

        Assert.Equal(HttpStatusCode.OK, (await As(Names.Roles.Sme, tenant: Scenario.Unique("tenant")).GetAsync("/api/v1/markets")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await As(Names.Roles.Provider, provider: id).GetAsync("/api/v1/markets")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await As(Names.Roles.Regulator, subject: id).GetAsync("/api/v1/utilization")).StatusCode);
    }

    [Fact]
    public async Task Anonymous_callers_are_limited_too_so_refusals_cannot_flood_the_audit_trail()
    {
        var (before, refused) = await UntilRefused(As(""));
        Assert.True(before.Count >= RateLimitCluster.Burst);
        Assert.All(before, s => Assert.Equal(HttpStatusCode.Unauthorized, s));
        Assert.Equal("rate-limited", (await refused.Problem()).Code());
    }

    /// <summary>Health checks, pages and the hub cost a caller too, from a bucket of their own: a page load spends nothing of the API's.</summary>
    [Theory]
    [InlineData("/readyz")]
    [InlineData("/healthz")]
    [InlineData("/")]
    public async Task Every_path_is_limited_in_a_bucket_apart_from_the_api(string path)
    {
        var client = As(Names.Roles.Sme, tenant: Scenario.Unique("tenant"));
        var (before, refused) = await UntilRefused(client, path);

        Assert.True(before.Count >= RateLimitCluster.Burst, $"only {before.Count} requests before the first 429");
        Assert.All(before, s => Assert.Equal(HttpStatusCode.OK, s));
        Assert.Equal("rate-limited", (await refused.Problem()).Code());
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/v1/markets")).StatusCode);
    }

    [Fact]
    public async Task An_anonymous_flood_of_hub_negotiations_is_limited()
    {
        // Every anonymous caller of the test process shares one address, and with it a bucket other tests have drawn on.
        var (before, refused) = await UntilRefused(As(""), $"{Names.Hub.Path}/negotiate?negotiateVersion=1", "POST");
        Assert.All(before, s => Assert.Equal(HttpStatusCode.Unauthorized, s));
        Assert.Equal("rate-limited", (await refused.Problem()).Code());
    }
}
