using BenchmarkDotNet.Attributes;
using Marketplace.Matching;

namespace Marketplace.Benchmarks;

/// <summary>
/// The matching decision on a realistic book, single-threaded, as the market grain makes it. Each benchmark reports the
/// time and allocation of one decision (OperationsPerInvoke): decisions per second = 1 s / mean.
/// </summary>
[MemoryDiagnoser]
public class MatchingBenchmarks
{
    private const int Incoming = 4_096;
    private const int RestingBids = 5_000;

    private RealisticBook _book = null!;

    [Params(300)]
    public int Pools { get; set; }

    [GlobalSetup]
    public void Setup() => _book = new RealisticBook(Pools, RestingBids, Incoming);

    /// <summary>An incoming bid: which pool, which start, or why none (a quote, or the first half of a fill).</summary>
    [Benchmark(OperationsPerInvoke = Incoming)]
    public int DecideIncoming()
    {
        var matched = 0;
        foreach (var bid in _book.Incoming)
        {
            matched += MatchingEngine.Decide(bid, _book.Ladder.Pools, _book.FirstBookableHour, _book.HorizonEndHour).Matched ? 1 : 0;
        }
        return matched;
    }

    /// <summary>
    /// A fill as the market makes it: decide, take the hours from the chosen pool's book (a tentative hold), then give them
    /// back so every invocation sees the same book. Taking invalidates the pool's utilization sums, as a real fill does.
    /// </summary>
    [Benchmark(OperationsPerInvoke = Incoming)]
    public int DecideAndHold()
    {
        var matched = 0;
        foreach (var bid in _book.Incoming)
        {
            var decision = MatchingEngine.Decide(bid, _book.Ladder.Pools, _book.FirstBookableHour, _book.HorizonEndHour);
            if (decision.Pool is { } pool)
            {
                pool.Take(decision.StartHour, bid.Hours, bid.Gpus);
                pool.Give(decision.StartHour, bid.Hours, bid.Gpus);
                matched++;
            }
        }
        return matched;
    }

    /// <summary>Capacity appeared: walk the resting bids in price-time priority and decide each (no fills, so the walk is complete).</summary>
    [Benchmark(OperationsPerInvoke = RestingBids)]
    public int RematchRestingBook()
    {
        var matched = 0;
        foreach (var resting in _book.Resting.InPriorityOrder())
        {
            var bid = _book.RestingRequests[resting.BidId];
            matched += MatchingEngine.Decide(bid, _book.Ladder.Pools, _book.FirstBookableHour, _book.HorizonEndHour).Matched ? 1 : 0;
        }
        return matched;
    }
}
