using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using Marketplace.Data;
using Marketplace.Data.Hosting;
using Marketplace.Testing;
using Xunit;

namespace Marketplace.Web.Tests;

/// <summary>One request is one trace: the web tier, the grains it calls and their PostgreSQL commands share its trace id.</summary>
[Collection(PlatformCollection.Name)]
public sealed class TracingTests(PlatformCluster web) : IDisposable
{
    private const string WebSource = "Microsoft.AspNetCore";
    private const string NpgsqlSource = "Npgsql";

    private readonly ConcurrentQueue<Activity> _spans = new();
    private readonly ActivityListener _listener = new();
    private readonly Api _api = new(web);

    public void Dispose() => _listener.Dispose();

    [Fact]
    public async Task A_bid_is_one_trace_from_the_web_tier_through_the_grains_to_postgresql()
    {
        var (providerId, provider) = await _api.Provider("Guizhou");
        await _api.Pool(provider, providerId, "L40S-48G", gpus: 4, ask: 900);
        var (_, sme) = await _api.Tenant();
        var start = Hours.ToTime(Hours.FirstBookable(web.Clock.GetUtcNow()) + 1);

        // The caller starts the trace (as a browser or gateway with tracing would): every span of this request carries its id.
        var traceId = ActivityTraceId.CreateRandom();
        _listener.ShouldListenTo = s => s.Name is WebSource or NpgsqlSource or CommitBatcher.ActivitySourceName || Telemetry.OrleansSources.Contains(s.Name);
        _listener.Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded;
        _listener.ActivityStopped = a =>
        {
            if (a.TraceId == traceId)
            {
                _spans.Enqueue(a);
            }
        };
        ActivitySource.AddActivityListener(_listener);
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/bids")
        {
            Content = System.Net.Http.Json.JsonContent.Create(new
            {
                gpuModel = "L40S-48G", gpuCount = 2, durationHours = 3, earliestStart = start, latestStart = start, maxFenPerGpuHour = 1_000,
                timeInForce = "IOC",
            }, options: WebCluster.Json),
        };
        request.Headers.Add(Names.Headers.IdempotencyKey, Scenario.Unique("trace"));
        request.Headers.Add("traceparent", $"00-{traceId}-{ActivitySpanId.CreateRandom()}-01");
        var response = await sme.SendAsync(request);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal("Filled", (await response.Read<BidView>()).State.ToString());

        var spans = _spans.ToList();
        var bySpan = spans.ToDictionary(s => s.SpanId);
        var server = Assert.Single(spans, s => s.Source.Name == WebSource);
        // The web tier's call into the cluster, and the grain's side of it, in the same trace below the request.
        var grainCalls = spans.Where(s => s.Source.Name == Orleans.Diagnostics.ActivitySources.ApplicationGrainActivitySourceName).ToList();
        Assert.Contains(grainCalls, s => s.Kind == ActivityKind.Client && s.ParentSpanId == server.SpanId);
        var grainServers = grainCalls.Where(s => s.Kind == ActivityKind.Server).Select(s => s.SpanId).ToHashSet();
        Assert.NotEmpty(grainServers);
        // PostgreSQL commands run inside a grain call, not only the web tier's own (idempotency, audit).
        Assert.Contains(spans, s => s.Source.Name == NpgsqlSource && Ancestors(s, bySpan).Any(grainServers.Contains));
        Assert.All(spans, s => Assert.Equal(server.SpanId, Ancestors(s, bySpan).LastOrDefault(s.SpanId)));
    }

    /// <summary>The span ids above a span, nearest first, as far as the collected spans go.</summary>
    private static IEnumerable<ActivitySpanId> Ancestors(Activity span, Dictionary<ActivitySpanId, Activity> bySpan)
    {
        for (var parent = span.ParentSpanId; bySpan.TryGetValue(parent, out var next); parent = next.ParentSpanId)
        {
            yield return parent;
        }
    }
}
