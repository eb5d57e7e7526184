using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using Marketplace.Data;
using Marketplace.Storage;
using Marketplace.Testing;
using Marketplace.Web.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Xunit;
using Xunit.Abstractions;

namespace Marketplace.Security.Tests;

/// <summary>
/// Thousands of malformed and hostile requests over every endpoint: none may answer 5xx, none built to be refused may
/// succeed, every error is a problem document, and the market's tables and invariants are exactly as they were.
/// </summary>
[Collection(FuzzCollection.Name)]
public sealed class FuzzTests(FuzzCluster web, ITestOutputHelper output)
{
    /// <summary>Requests per endpoint: 44 endpoints make 5,280 requests.</summary>
    private const int RequestsPerEndpoint = 120;
    private const int Concurrency = 8;
    private const int DefaultSeed = 20261123;

    /// <param name="FromApp">False when the server refused the request before the app saw it (no security headers on the answer).</param>
    private sealed record Outcome(FuzzRequest Request, int Status, string? ContentType, string Body, string? Failure, bool FromApp = true);

    [Fact]
    public async Task Thousands_of_malformed_and_hostile_requests_get_no_5xx_change_nothing_and_leave_the_invariants_clean()
    {
        var world = await web.WorldAsync();
        var seed = int.TryParse(Environment.GetEnvironmentVariable("MARKETPLACE_FUZZ_SEED"), CultureInfo.InvariantCulture, out var s) ? s : DefaultSeed;
        var generator = new FuzzGenerator(world, web.Factory.Services.GetRequiredService<AuthSettings>(), seed);
        var requests = new List<FuzzRequest>();
        for (var round = 0; round < RequestsPerEndpoint; round++)
        {
            foreach (var endpoint in Catalog.All)
            {
                requests.Add(await generator.NextAsync(requests.Count, endpoint));
            }
        }

        var invariantsBefore = await new InvariantChecker(web.Database.DataSource).CheckAsync(world.Now);
        Assert.True(invariantsBefore.Clean, string.Join("\n", invariantsBefore.Violations));
        var before = await DatabaseSnapshot.TakeAsync(web.Database);

        var stopwatch = Stopwatch.StartNew();
        var outcomes = await SendAllAsync(requests);
        stopwatch.Stop();

        var after = await DatabaseSnapshot.TakeAsync(web.Database);
        var invariantsAfter = await new InvariantChecker(web.Database.DataSource).CheckAsync(world.Now);

        var histogram = outcomes.GroupBy(o => o.Failure is not null ? "no response" : o.Status.ToString(CultureInfo.InvariantCulture) + (o.FromApp ? "" : " (Kestrel)"))
            .OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => $"{g.Key}: {g.Count()}");
        output.WriteLine($"seed {seed}: {outcomes.Count} requests over {outcomes.Select(o => o.Request.Endpoint).Distinct().Count()} endpoints " +
            $"in {stopwatch.Elapsed.TotalSeconds:F1} s with {Concurrency} at a time");
        output.WriteLine("statuses: " + string.Join(", ", histogram));
        output.WriteLine($"built to be refused: {outcomes.Count(o => o.Request.MustBeRefused)}");
        output.WriteLine("tables: " + string.Join("; ", after.Select(t => $"{t.Key} {t.Value.Split(',')[0]}")));

        var serverErrors = outcomes.Where(o => o.Status >= 500).ToList();
        var noResponse = outcomes.Where(o => o.Failure is not null).ToList();
        var accepted = outcomes.Where(o => o.Request.MustBeRefused && o.Status is >= 200 and < 300).ToList();
        // Kestrel answers a request it cannot parse (a NUL in the path, say) itself, with an empty 400; the hub's transport
        // answers in plain text. Every other error is the API's and must be a problem document.
        // The OpenID Connect provider answers in OAuth's own error format (RFC 6749 §5.2) and the sign-in page in HTML, for people.
        var notProblems = outcomes.Where(o => o.Status >= 400 && o.FromApp && !o.Request.Url.StartsWith(Names.Hub.Path, StringComparison.Ordinal)
            && !o.Request.Url.StartsWith("/connect/", StringComparison.Ordinal) && !o.Request.Url.StartsWith("/account/", StringComparison.Ordinal)
            && o.ContentType != "application/problem+json").ToList();
        // An answer without the security headers must be Kestrel's own refusal: empty, never the app's.
        var bareAnswers = outcomes.Where(o => o.Failure is null && !o.FromApp && (o.Body.Length > 0 || o.Status != 400)).ToList();
        var changed = DatabaseSnapshot.Differences(before, after);

        Assert.True(outcomes.Count >= 5_000);
        Assert.Equal(Catalog.All.Count, outcomes.Select(o => o.Request.Endpoint).Distinct().Count());
        Assert.True(serverErrors.Count == 0 && noResponse.Count == 0 && accepted.Count == 0 && notProblems.Count == 0 && bareAnswers.Count == 0
            && changed.Count == 0 && invariantsAfter.Clean,
            Report("5xx answers", serverErrors) + Report("no answer", noResponse) + Report("accepted though built to be refused", accepted)
            + Report("errors that are not problem details", notProblems) + Report("answers without security headers", bareAnswers) + $"tables changed:\n{string.Join("\n", changed)}\n"
            + $"invariant violations:\n{string.Join("\n", invariantsAfter.Violations)}");
    }

    /// <summary>
    /// Hostile hub calls from every role over both protocols: unknown methods, wrong arities, wrong types, others' groups,
    /// huge and poisoned strings. Each is answered or refused (a HubException); none fails on the server (which would log an
    /// error and tell the client "an unexpected error occurred"), the connection stays up and the market is unchanged.
    /// </summary>
    [Fact]
    public async Task Hostile_hub_calls_are_answered_or_refused_never_fail_and_change_nothing()
    {
        var world = await web.WorldAsync();
        var seed = int.TryParse(Environment.GetEnvironmentVariable("MARKETPLACE_FUZZ_SEED"), CultureInfo.InvariantCulture, out var s) ? s : DefaultSeed;
        var random = new Random(seed);
        // Strings long, but three of them still under the hub's message size limit: past it the server rightly drops the
        // connection, which is not what this test is about.
        object?[] values =
        [
            null, "", " ", "\0", "tenant\u202e", new string('x', 8_000), "' OR 1=1 --", "<script>alert(1)</script>", 0, -1, long.MaxValue, 3.5, true,
            Names.Hub.TenantGroup(world.TenantA), Names.Hub.TenantGroup(world.TenantB), Names.Hub.ProviderGroup(world.ProviderP),
            Names.Hub.ProviderGroup(world.ProviderQ), Names.Hub.RegulatorGroup, new[] { "a", "b" }, new Dictionary<string, object> { ["group"] = 1 },
        ];
        string[] methods = ["Join", "Snapshot", "join", "Leave", "OnConnectedAsync", "OnDisconnectedAsync", "Dispose", "Groups", "Join\0"];
        var callers = new (string Role, string? Tenant, string? Provider)[]
        {
            (Names.Roles.Sme, world.TenantA, null), (Names.Roles.Provider, null, world.ProviderP), (Names.Roles.Regulator, null, null), (Names.Roles.Admin, null, null),
        };

        var before = await DatabaseSnapshot.TakeAsync(web.Database);
        var logged = web.Logs.GetSnapshot().Count;
        var outcomes = new Dictionary<string, int>(StringComparer.Ordinal);
        var failures = new List<string>();
        foreach (var messagePack in new[] { false, true })
        {
            foreach (var (role, tenant, provider) in callers)
            {
                await using var hub = await web.Hub(role, tenant, provider, messagePack);
                for (var i = 0; i < 150; i++)
                {
                    var method = methods[random.Next(methods.Length)];
                    var args = Enumerable.Range(0, random.Next(0, 4)).Select(_ => values[random.Next(values.Length)]).ToArray();
                    string outcome;
                    try
                    {
                        await hub.Connection.InvokeCoreAsync(method, typeof(object), args);
                        outcome = "answered";
                    }
                    // A refusal names its reason ("... HubException: you may not join that group", "Method does not exist"), or the
                    // call could not be bound to a method ("Failed to invoke 'X' ..."); a failure on the server is the bare
                    // "An unexpected error occurred invoking 'X' on the server." (and an error in the log).
                    catch (Microsoft.AspNetCore.SignalR.HubException e)
                        when (!e.Message.StartsWith("An unexpected error", StringComparison.Ordinal) || e.Message.Contains("HubException:", StringComparison.Ordinal))
                    {
                        outcome = "refused";
                    }
                    catch (Exception e)
                    {
                        outcome = "failed";
                        failures.Add($"{role} {method}({args.Length} args, {(messagePack ? "MessagePack" : "JSON")}): {e.GetType().Name} {e.Message}");
                    }
                    outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
                }
                Assert.Equal(Microsoft.AspNetCore.SignalR.Client.HubConnectionState.Connected, hub.Connection.State);
            }
        }

        var errors = web.Logs.GetSnapshot().Skip(logged).Where(r => r.Level >= Microsoft.Extensions.Logging.LogLevel.Error).ToList();
        var changed = DatabaseSnapshot.Differences(before, await DatabaseSnapshot.TakeAsync(web.Database));
        output.WriteLine($"seed {seed}: hub calls {string.Join(", ", outcomes.OrderBy(o => o.Key, StringComparer.Ordinal).Select(o => $"{o.Key} {o.Value}"))}");
        Assert.True(failures.Count == 0 && errors.Count == 0 && changed.Count == 0,
            $"failed calls:\n{string.Join("\n", failures.Take(20))}\nerrors logged:\n{string.Join("\n", errors.Take(20).Select(e => $"{e.Category}: {e.Message}"))}\n" +
            $"tables changed:\n{string.Join("\n", changed)}");
        Assert.True(outcomes.GetValueOrDefault("answered") > 0 && outcomes.GetValueOrDefault("refused") > 0);
    }

    private async Task<List<Outcome>> SendAllAsync(IReadOnlyList<FuzzRequest> requests)
    {
        using var client = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false })
        {
            BaseAddress = web.BaseAddress,
            Timeout = TimeSpan.FromSeconds(60),
        };
        var outcomes = new ConcurrentBag<Outcome>();
        var next = -1;
        var workers = Enumerable.Range(0, Concurrency).Select(async _ =>
        {
            int index;
            while ((index = Interlocked.Increment(ref next)) < requests.Count)
            {
                outcomes.Add(await SendAsync(client, requests[index]));
            }
        });
        await Task.WhenAll(workers);
        return [.. outcomes.OrderBy(o => o.Request.Index)];
    }

    private static async Task<Outcome> SendAsync(HttpClient client, FuzzRequest request)
    {
        try
        {
            using var message = new HttpRequestMessage(new HttpMethod(request.Method), new Uri(request.Url, UriKind.Relative));
            // A connection of its own per request: Kestrel closes a connection after some refusals (a request line it cannot
            // parse, a body over the limit), and a pooled connection reused in that moment fails on the client's side.
            message.Headers.ConnectionClose = true;
            // As a well-behaved client does with a large body: wait for the server's go-ahead (a 413 comes instead).
            message.Headers.ExpectContinue = request.Body is { Length: > 16 * 1024 };
            if (request.Authorization is not null)
            {
                message.Headers.TryAddWithoutValidation("Authorization", request.Authorization);
            }
            foreach (var (name, value) in request.Headers)
            {
                message.Headers.TryAddWithoutValidation(name, value);
            }
            if (request.Body is not null)
            {
                message.Content = new ByteArrayContent(request.Body);
                if (!string.IsNullOrEmpty(request.ContentType))
                {
                    message.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(request.ContentType);
                }
            }
            using var response = await client.SendAsync(message);
            var body = await response.Content.ReadAsStringAsync();
            return new Outcome(request, (int)response.StatusCode, response.Content.Headers.ContentType?.MediaType, body, null,
                response.Headers.Contains("X-Content-Type-Options"));
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException or FormatException)
        {
            return new Outcome(request, 0, null, "", $"{e.GetType().Name}: {e.Message} {e.InnerException?.Message}");
        }
    }

    private static string Report(string title, IReadOnlyList<Outcome> outcomes) =>
        outcomes.Count == 0
            ? ""
            : $"{outcomes.Count} {title}:\n" + string.Join("\n", outcomes.Take(25).Select(o =>
                $"  {o.Status} {o.Request} -> {o.Failure ?? (o.Body.Length > 300 ? o.Body[..300] : o.Body)}")) + "\n";
}
