using System.Diagnostics;

namespace Marketplace.Load;

/// <summary>How a bench run drives the market: open loop at a rate, or closed loop with a number of workers.</summary>
public sealed record BenchPlan(double? Rate, int? Concurrency, TimeSpan Duration, int MaxInFlight, TimeSpan Drain);

/// <summary>
/// Drives bids at the market and measures. Open loop: a scheduler sends the n-th bid at start + n / rate whatever the
/// answers, with at most <see cref="BenchPlan.MaxInFlight"/> outstanding (a send over that is shed and counted). Closed loop:
/// each worker sends its next bid when the previous one is answered. Both stop sending at the duration, then wait (at most
/// <see cref="BenchPlan.Drain"/>) for answers and pushed fills.
/// </summary>
public sealed class Bench(Bids bids, Tally tally, IReadOnlyList<Tenant> tenants)
{
    public async Task<TimeSpan> RunAsync(BenchPlan plan, CancellationToken abort)
    {
        var clock = Stopwatch.StartNew();
        var inFlight = new List<Task>();
        if (plan.Rate is { } rate)
        {
            await OpenLoopAsync(rate, plan, inFlight, abort);
        }
        else
        {
            await ClosedLoopAsync(plan.Concurrency ?? 16, plan.Duration, inFlight, abort);
        }
        var sending = clock.Elapsed;
        using var drain = CancellationTokenSource.CreateLinkedTokenSource(abort);
        drain.CancelAfter(plan.Drain);
        try
        {
            await Task.WhenAll(inFlight).WaitAsync(drain.Token);
            // Fills the hub has yet to push: wait until every bid answered Filled has been pushed, or the drain ends.
            while (tally.PushFills < tally.InState(nameof(BidState.Filled)))
            {
                await Task.Delay(100, drain.Token);
            }
        }
        catch (OperationCanceledException) when (!abort.IsCancellationRequested)
        {
            // drained as far as the limit allows; what is missing shows in the result
        }
        return sending;
    }

    private async Task OpenLoopAsync(double rate, BenchPlan plan, List<Task> inFlight, CancellationToken abort)
    {
        var random = new Random(7);
        var outstanding = 0;
        var start = Stopwatch.GetTimestamp();
        var total = (long)Math.Ceiling(rate * plan.Duration.TotalSeconds);
        for (long n = 0; n < total && !abort.IsCancellationRequested; n++)
        {
            var due = TimeSpan.FromSeconds(n / rate);
            var wait = due - Stopwatch.GetElapsedTime(start);
            if (wait > TimeSpan.FromMilliseconds(1))
            {
                await Task.Delay(wait, abort).ContinueWith(_ => { }, TaskScheduler.Default);
            }
            if (Volatile.Read(ref outstanding) >= plan.MaxInFlight)
            {
                tally.Sending();
                tally.Shedding();
                continue;
            }
            var tenant = tenants[(int)(n % tenants.Count)];
            var body = bids.Make(tenant, random, DateTimeOffset.UtcNow, out var key);
            Interlocked.Increment(ref outstanding);
            inFlight.Add(Send(tenant, body, key));
        }

        async Task Send(Tenant tenant, object body, string key)
        {
            try
            {
                await bids.SendAsync(tenant, body, key, CancellationToken.None);
            }
            finally
            {
                Interlocked.Decrement(ref outstanding);
            }
        }
    }

    private async Task ClosedLoopAsync(int concurrency, TimeSpan duration, List<Task> workers, CancellationToken abort)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(abort);
        stop.CancelAfter(duration);
        for (var w = 0; w < concurrency; w++)
        {
            var tenant = tenants[w % tenants.Count];
            var random = new Random(1_000 + w);
            workers.Add(Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    var body = bids.Make(tenant, random, DateTimeOffset.UtcNow, out var key);
                    await bids.SendAsync(tenant, body, key, CancellationToken.None);
                }
            }, CancellationToken.None));
        }
        await Task.WhenAll(workers);
    }
}
