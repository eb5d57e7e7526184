using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Marketplace.Testing;

/// <summary>One answer of the API to a bid.</summary>
public sealed record BidAnswer(DateTimeOffset Sent, DateTimeOffset At, int Status, string? BidId, string? State, bool RetryAfter);

/// <summary>
/// Steady bidding through the public API by a few tenants: IOC bids for one GPU for one hour, each with its own
/// idempotency key, until stopped, for at most <c>maxDuration</c> and <c>maxBids</c>. Every answer is recorded, so a test
/// can check that every accepted bid is accounted for and that no request failed other than with a 503.
/// </summary>
public sealed class BidStream : IAsyncDisposable
{
    private readonly ConcurrentQueue<BidAnswer> _answers = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _workers = [];
    private int _sent;

    private BidStream()
    {
    }

    public IReadOnlyList<BidAnswer> Answers => [.. _answers];
    public IReadOnlyList<string> AcceptedBidIds => _answers.Where(a => a.BidId is not null).Select(a => a.BidId!).Distinct().ToList();
    public IReadOnlyList<BidAnswer> Fills => _answers.Where(a => a.State == "Filled").ToList();

    public static BidStream Start(IReadOnlyList<(string Id, HttpClient Client)> tenants, string model, TimeSpan maxDuration, int maxBids)
    {
        var stream = new BidStream();
        stream._stop.CancelAfter(maxDuration);
        foreach (var (tenantId, client) in tenants)
        {
            stream._workers.Add(stream.RunAsync(client, tenantId, model, maxBids));
        }
        return stream;
    }

    private async Task RunAsync(HttpClient client, string tenantId, string model, int maxBids)
    {
        var n = 0;
        while (!_stop.IsCancellationRequested && Interlocked.Increment(ref _sent) <= maxBids)
        {
            // Spread over the next days so the pools never run out.
            var start = Hours.ToTime(Hours.Floor(DateTimeOffset.UtcNow) + 2 + (n++ % 200));
            var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/bids")
            {
                Content = JsonContent.Create(new { gpuModel = model, gpuCount = 1, durationHours = 1, earliestStart = start, latestStart = start.AddHours(48),
                    maxFenPerGpuHour = 5_000, timeInForce = "IOC" }),
            };
            request.Headers.Add(Names.Headers.IdempotencyKey, $"{tenantId}-{n}-{Guid.NewGuid():N}");
            var sent = DateTimeOffset.UtcNow;
            try
            {
                using var response = await client.SendAsync(request, CancellationToken.None);
                string? bidId = null, state = null;
                if (response.StatusCode == HttpStatusCode.Created)
                {
                    var bid = await response.Content.ReadFromJsonAsync<JsonElement>();
                    (bidId, state) = (bid.GetProperty("id").GetString(), bid.GetProperty("state").GetString());
                }
                _answers.Enqueue(new BidAnswer(sent, DateTimeOffset.UtcNow, (int)response.StatusCode, bidId, state, response.Headers.RetryAfter is not null));
            }
            catch (HttpRequestException)
            {
                _answers.Enqueue(new BidAnswer(sent, DateTimeOffset.UtcNow, 0, null, null, false));
            }
        }
    }

    /// <summary>Waits until <paramref name="count"/> more fills than now have been answered (at most the timeout).</summary>
    public async Task WaitForFillsAsync(int count, TimeSpan timeout)
    {
        var target = Fills.Count + count;
        var clock = Stopwatch.StartNew();
        while (Fills.Count < target)
        {
            if (clock.Elapsed > timeout || _workers.All(w => w.IsCompleted))
            {
                throw new TimeoutException($"{Fills.Count} fills, wanted {target}; answers: {Describe()}");
            }
            await Task.Delay(50);
        }
    }

    public string Describe() => string.Join(", ", _answers.GroupBy(a => a.Status).OrderBy(g => g.Key).Select(g => $"{g.Key}: {g.Count()}"));

    public async Task StopAsync()
    {
        _stop.Cancel();
        await Task.WhenAll(_workers);
    }

    public async ValueTask DisposeAsync() => await StopAsync();
}
