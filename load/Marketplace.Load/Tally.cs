using System.Collections.Concurrent;

namespace Marketplace.Load;

/// <summary>
/// Every bid the tool sent and what became of it. A bid is accepted when the API answers 201 with its id; its last known
/// state comes from that answer, then from the hub (a fill pushed later) and, at the end, from reading it back.
/// </summary>
public sealed class Tally
{
    private readonly ConcurrentDictionary<string, Tracked> _bids = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _earlyFills = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _refusals = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _errors = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _rejectReasons = new(StringComparer.Ordinal);
    private long _sent;
    private long _shed;
    private long _pushFills;
    private long _pushedBeforeAnswer;

    public Latency Api { get; } = new();
    public Latency Push { get; } = new();

    public long Sent => Interlocked.Read(ref _sent);
    public long Accepted => _bids.Count;
    public long Shed => Interlocked.Read(ref _shed);
    public long PushFills => Interlocked.Read(ref _pushFills);
    public long PushedBeforeAnswer => Interlocked.Read(ref _pushedBeforeAnswer);
    public long Refused => _refusals.Values.Sum();
    public long Errors => _errors.Values.Sum();
    public IReadOnlyDictionary<string, long> Refusals => _refusals;
    public IReadOnlyDictionary<string, long> ErrorKinds => _errors;
    public IReadOnlyDictionary<string, long> RejectReasons => _rejectReasons;

    public IReadOnlyCollection<string> AcceptedIds => [.. _bids.Keys];

    public long InState(string state) => _bids.Values.Count(b => b.State == state);

    public IReadOnlyList<string> IdsInState(params string[] states) => _bids.Where(b => states.Contains(b.Value.State)).Select(b => b.Key).ToList();

    public void Sending() => Interlocked.Increment(ref _sent);

    /// <summary>The open-loop scheduler skipped a send because too many bids were in flight.</summary>
    public void Shedding() => Interlocked.Increment(ref _shed);

    public void Refusal(string code) => _refusals.AddOrUpdate(code, 1, (_, n) => n + 1);

    public void Error(string kind) => _errors.AddOrUpdate(kind, 1, (_, n) => n + 1);

    public void Answered(string bidId, string state, string? reasonCode, long answeredAt)
    {
        var tracked = _bids.GetOrAdd(bidId, _ => new Tracked(answeredAt));
        lock (tracked)
        {
            if (tracked.State is not "Filled")
            {
                tracked.State = state;
            }
        }
        if (state == nameof(BidState.Rejected))
        {
            _rejectReasons.AddOrUpdate(reasonCode ?? "none", 1, (_, n) => n + 1);
        }
        if (_earlyFills.TryRemove(bidId, out _))
        {
            // The hub told the tenant before the HTTP answer arrived.
            Interlocked.Increment(ref _pushedBeforeAnswer);
            Push.Record(TimeSpan.Zero);
            MarkFilled(tracked);
        }
    }

    /// <summary>The hub reported the bid filled (durable: the market pushes only what it has written).</summary>
    public void PushedFill(string bidId, long at)
    {
        if (!_bids.TryGetValue(bidId, out var tracked))
        {
            if (_earlyFills.TryAdd(bidId, at) && _bids.TryGetValue(bidId, out tracked) && _earlyFills.TryRemove(bidId, out _))
            {
                Interlocked.Increment(ref _pushedBeforeAnswer);
                Push.Record(TimeSpan.Zero);
                MarkFilled(tracked);
            }
            return;
        }
        if (!tracked.Pushed)
        {
            Push.Record(System.Diagnostics.Stopwatch.GetElapsedTime(tracked.AnsweredAt, at));
        }
        MarkFilled(tracked);
    }

    /// <summary>The state read back from the API at the end.</summary>
    public void ReadBack(string bidId, string state)
    {
        if (_bids.TryGetValue(bidId, out var tracked))
        {
            lock (tracked)
            {
                tracked.State = state;
            }
        }
    }

    private void MarkFilled(Tracked tracked)
    {
        lock (tracked)
        {
            if (!tracked.Pushed)
            {
                tracked.Pushed = true;
                Interlocked.Increment(ref _pushFills);
            }
            tracked.State = nameof(BidState.Filled);
        }
    }

    private sealed class Tracked(long answeredAt)
    {
        public long AnsweredAt { get; } = answeredAt;
        public string State { get; set; } = nameof(BidState.Pending);
        public bool Pushed { get; set; }
    }
}
