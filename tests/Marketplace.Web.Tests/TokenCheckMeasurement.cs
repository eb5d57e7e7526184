using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Security.Claims;
using Marketplace.Testing;
using Marketplace.Web.Accounts;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.JsonWebTokens;
using Xunit;
using Xunit.Abstractions;

namespace Marketplace.Web.Tests;

/// <summary>
/// Measures (and only prints) what checking an account's security stamp adds to an API call, in process: the bearer
/// authentication every call makes (signature, claims and, for an account, the stamp) for an account's token, the same
/// with the stamp read from the database each time (the first call after <see cref="AccountStamps.CacheFor"/>), and an
/// API client's token from the same provider (no stamp check); then whole calls to the order book with each token.
/// Interleaved, so that the machine's drift falls on all alike.
/// </summary>
[Collection(AccountsCollection.Name)]
public sealed class TokenCheckMeasurement(AccountsCluster web, ITestOutputHelper output)
{
    private const int Samples = 300;
    private const int Calls = 200;

    [Fact]
    public async Task Stamp_check_cost_per_api_call_against_an_api_client_token()
    {
        var flows = new AccountFlows(web);
        var account = await flows.Register(Names.Roles.Sme);
        var accountToken = (await flows.Tokens(account.Email)).GetProperty("access_token").GetString()!;
        var (clientId, secret) = await flows.ApiClient(Names.Roles.Sme, tenantId: Scenario.Unique("tenant"));
        var clientToken = (await AccountFlows.TokenResponse(web.Client(), AccountFlows.ClientCredentials(clientId, secret))).GetProperty("access_token").GetString()!;
        var stamps = web.Factory.Services.GetRequiredService<AccountStamps>();

        async Task<double> Authenticate(string token, bool uncached = false)
        {
            await using var scope = web.Factory.Services.CreateAsyncScope();
            var context = new DefaultHttpContext { RequestServices = scope.ServiceProvider };
            context.Request.Headers.Authorization = $"Bearer {token}";
            if (uncached)
            {
                stamps.Forget(account.Id);
            }
            var start = Stopwatch.GetTimestamp();
            var result = await context.AuthenticateAsync(JwtBearerDefaults.AuthenticationScheme);
            var elapsed = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
            Assert.True(result.Succeeded, result.Failure?.Message);
            return elapsed;
        }

        // The check alone, as OnTokenValidated makes it.
        var principal = new ClaimsPrincipal(new ClaimsIdentity(new JsonWebToken(accountToken).Claims));
        async Task<double> Check(bool uncached)
        {
            if (uncached)
            {
                stamps.Forget(account.Id);
            }
            var start = Stopwatch.GetTimestamp();
            var refusal = await stamps.RefusalAsync(principal, CancellationToken.None);
            var elapsed = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
            Assert.Null(refusal);
            return elapsed;
        }
        var (checkCached, checkRead) = (new List<double>(), new List<double>());
        for (var i = -100; i < Samples; i++)
        {
            var (c, r) = (await Check(uncached: false), await Check(uncached: true));
            if (i >= 0)
            {
                checkCached.Add(c);
                checkRead.Add(r);
            }
        }

        var (client, cached, read) = (new List<double>(), new List<double>(), new List<double>());
        for (var i = -100; i < Samples; i++)
        {
            // The order turns each time, so that none of the three is always first after a pause.
            var order = new[] { 0, 1, 2 }.Select(k => (k + i + 300) % 3).ToArray();
            var times = new double[3];
            foreach (var k in order)
            {
                times[k] = k switch { 0 => await Authenticate(clientToken), 1 => await Authenticate(accountToken), _ => await Authenticate(accountToken, uncached: true) };
            }
            var (c, a, r) = (times[0], times[1], times[2]);
            if (i >= 0)
            {
                client.Add(c);
                cached.Add(a);
                read.Add(r);
            }
        }

        using var accountCalls = flows.Bearer(accountToken);
        using var clientCalls = flows.Bearer(clientToken);
        var (wholeAccount, wholeClient) = (new List<double>(), new List<double>());
        for (var i = -30; i < Calls; i++)
        {
            foreach (var (http, samples) in new[] { (accountCalls, wholeAccount), (clientCalls, wholeClient) })
            {
                var start = Stopwatch.GetTimestamp();
                using var response = await http.GetAsync("/api/v1/markets/H800-80G/book");
                var elapsed = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                if (i >= 0)
                {
                    samples.Add(elapsed);
                }
            }
        }

        var report = string.Join(Environment.NewLine,
            $"the stamp check alone (AccountStamps.RefusalAsync), n={Samples} each (µs):",
            Line("  cached", checkCached),
            Line("  read from PostgreSQL", checkRead),
            $"bearer authentication, n={Samples} each, in process (µs):",
            Line("  API client token (no stamp check)", client),
            Line("  account token, stamp cached", cached),
            Line("  account token, stamp read from PostgreSQL", read),
            $"whole GET /api/v1/markets/H800-80G/book, n={Calls} each, in process (µs):",
            Line("  API client token", wholeClient),
            Line("  account token", wholeAccount));
        output.WriteLine(report);
        await File.WriteAllTextAsync(Path.Combine(AppContext.BaseDirectory, "token-check.txt"), report + Environment.NewLine);
    }

    private static string Line(string what, List<double> samples)
    {
        samples.Sort();
        return string.Create(CultureInfo.InvariantCulture, $"{what}: p50 {Percentile(samples, 50):F0}, p99 {Percentile(samples, 99):F0}, max {samples[^1]:F0}");
    }

    /// <summary>Nearest-rank percentile of sorted samples.</summary>
    private static double Percentile(List<double> sorted, int percent) => sorted[Math.Max(0, (int)Math.Ceiling(percent / 100.0 * sorted.Count) - 1)];
}
