using Microsoft.Extensions.Logging;
using Orleans.Concurrency;

namespace Marketplace.Grains;

/// <summary>
/// One per silo (a stateless worker): collects updates from the grains on its silo and forwards them in batches to
/// every web node, so a busy market costs a few messages per batch interval instead of one per change.
/// </summary>
[StatelessWorker(1)]
[Reentrant]
public sealed class PushNotifierGrain(TimeProvider time, ILogger<PushNotifierGrain> logger) : Grain, IPushNotifierGrain
{
    private static readonly TimeSpan FlushInterval = TimeSpan.FromMilliseconds(20);
    private static readonly TimeSpan HubRefreshInterval = TimeSpan.FromSeconds(5);
    private const int MaxBatch = 500;

    private readonly List<MarketUpdate> _queue = [];
    private IReadOnlyList<Guid> _hubs = [];
    private DateTimeOffset _hubsFetchedAt = DateTimeOffset.MinValue;
    private bool _flushing;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        this.RegisterGrainTimer(_ => Flush(), new GrainTimerCreationOptions(FlushInterval, FlushInterval) { Interleave = true });
        return Task.CompletedTask;
    }

    public Task Publish(MarketUpdate update)
    {
        _queue.Add(update);
        return Task.CompletedTask;
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken) => await Flush();

    private async Task Flush()
    {
        if (_flushing || _queue.Count == 0)
        {
            return;
        }
        _flushing = true;
        try
        {
            // An empty list is not cached: a web node that registers is heard from at the next flush.
            if (_hubs.Count == 0 || time.GetUtcNow() - _hubsFetchedAt > HubRefreshInterval)
            {
                _hubs = await GrainFactory.GetGrain<IHubListGrain>(0).GetHubs();
                _hubsFetchedAt = time.GetUtcNow();
            }
            // A thing that changed twice since the last flush is sent once, at its latest version: clients apply
            // versions in order and a skipped one is never a gap (each update carries the whole thing).
            var latest = _queue
                .GroupBy(u => (u.Kind, u.EntityId))
                .Select(g => g.MaxBy(u => u.Version)!)
                .ToList();
            _queue.Clear();
            for (var i = 0; i < latest.Count; i += MaxBatch)
            {
                var batch = latest.GetRange(i, Math.Min(MaxBatch, latest.Count - i));
                await Task.WhenAll(_hubs.Select(hub => Send(hub, batch)));
            }
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "Forwarding updates to web nodes failed");
        }
        finally
        {
            _flushing = false;
        }
    }

    private async Task Send(Guid nodeId, IReadOnlyList<MarketUpdate> batch)
    {
        try
        {
            await GrainFactory.GetGrain<IPushInboxGrain>(nodeId).Deliver(batch);
        }
        catch (Exception e)
        {
            // A web node that went away is dropped from the list when it stops re-registering.
            logger.LogDebug(e, "Web node {NodeId} did not take a batch of {Count} updates", nodeId, batch.Count);
            _hubsFetchedAt = DateTimeOffset.MinValue;
        }
    }
}

/// <summary>The web nodes that want updates. Nodes re-register every few seconds; one silent for 30 s is dropped.</summary>
public sealed class HubListGrain(TimeProvider time) : Grain, IHubListGrain
{
    private static readonly TimeSpan Expiry = TimeSpan.FromSeconds(30);
    private readonly Dictionary<Guid, DateTimeOffset> _hubs = [];

    public ValueTask AddHub(Guid nodeId)
    {
        _hubs[nodeId] = time.GetUtcNow();
        return ValueTask.CompletedTask;
    }

    public ValueTask RemoveHub(Guid nodeId)
    {
        _hubs.Remove(nodeId);
        return ValueTask.CompletedTask;
    }

    public ValueTask<IReadOnlyList<Guid>> GetHubs()
    {
        var cutoff = time.GetUtcNow() - Expiry;
        foreach (var stale in _hubs.Where(h => h.Value < cutoff).Select(h => h.Key).ToList())
        {
            _hubs.Remove(stale);
        }
        return ValueTask.FromResult<IReadOnlyList<Guid>>(_hubs.Keys.ToList());
    }
}

/// <summary>
/// A web node's inbox: batches from every silo's notifier wait here until the node takes them. A node that stops
/// taking (it went away) is dropped from the hub list within 30 s; until then its inbox keeps at most
/// <see cref="Capacity"/> updates, the oldest giving way (clients recover from a gap with a snapshot).
/// </summary>
[Reentrant]
public sealed class PushInboxGrain(ILogger<PushInboxGrain> logger) : Grain, IPushInboxGrain
{
    private const int Capacity = 100_000;

    private List<MarketUpdate> _pending = [];
    private TaskCompletionSource? _arrived;
    private long _dropped;

    public Task Deliver(IReadOnlyList<MarketUpdate> updates)
    {
        _pending.AddRange(updates);
        if (_pending.Count > Capacity)
        {
            var excess = _pending.Count - Capacity;
            _pending.RemoveRange(0, excess);
            _dropped += excess;
            logger.LogWarning("Push inbox {NodeId} is not being taken from; {Dropped} updates dropped so far", this.GetPrimaryKey(), _dropped);
        }
        _arrived?.TrySetResult();
        return Task.CompletedTask;
    }

    public async Task<IReadOnlyList<MarketUpdate>> Take(TimeSpan wait)
    {
        if (_pending.Count == 0)
        {
            _arrived ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            await Task.WhenAny(_arrived.Task, Task.Delay(wait));
            if (_arrived is { Task.IsCompleted: true })
            {
                _arrived = null;
            }
        }
        var taken = _pending;
        _pending = [];
        return taken;
    }
}
