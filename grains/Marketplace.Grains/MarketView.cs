using Marketplace.Matching;
using Marketplace.Storage;

namespace Marketplace.Grains;

/// <summary>
/// A market's view of its pools: each pool's calendar as last read from the database, less the fills being written on
/// it. Decisions are made against it and take their hours from it at once, so the next decision already sees them
/// gone. A fill names the pool's terms the view was read at; a refusal makes the market read the pool again
/// (<see cref="Apply"/>).
/// </summary>
public sealed class MarketView
{
    private readonly AskLadder _ladder = new();
    private readonly Dictionary<string, Entry> _pools = new(StringComparer.Ordinal);
    /// <summary>Orders reads of pools and fills that finished: a read taken out before a fill committed may not hold it.</summary>
    private long _sequence;

    private sealed class Entry(PoolSpec spec)
    {
        public PoolSpec Spec { get; set; } = spec;
        /// <summary>Where the latest read applied began: a read that began earlier is older, and dropped.</summary>
        public long ReadFrom { get; set; } = -1;
        /// <summary>The pool's <c>terms_version</c> as read: a fill decided on this view names it.</summary>
        public long TermsVersion { get; set; }
        /// <summary>Fills being written on this pool, taken from the view but maybe not yet stored, with the terms they were decided on.</summary>
        public Dictionary<string, (ReservationPlan Plan, long Terms)> InFlight { get; } = new(StringComparer.Ordinal);
        /// <summary>Fills written (or maybe written) since the latest read began, with when they finished.</summary>
        public Dictionary<string, (ReservationPlan Plan, long Finished)> Written { get; } = new(StringComparer.Ordinal);
        /// <summary>When the first unconfirmed hold in the view lapses; from then on the view shows capacity that is free.</summary>
        public DateTimeOffset? NextHoldExpiry { get; set; }
    }

    /// <summary>The pools in ask order, as <see cref="MatchingEngine"/> wants them.</summary>
    public IReadOnlyList<PoolBook> Ladder => _ladder.Pools;

    public IReadOnlyCollection<string> PoolIds => _pools.Keys;

    public PoolSpec Spec(string poolId) => _pools[poolId].Spec;

    /// <summary>The pool's terms the plan was decided on (recorded when it was taken), for its fill to name.</summary>
    public long TermsOf(ReservationPlan plan) => _pools[plan.PoolId].InFlight[plan.ReservationId].Terms;

    /// <summary>Pools whose unconfirmed holds have begun to lapse, so their view understates what is free.</summary>
    public IReadOnlyList<string> Lapsed(DateTimeOffset now) => _pools.Where(p => p.Value.NextHoldExpiry <= now).Select(p => p.Key).ToList();

    /// <summary>Takes the plan's hours from the view at once, so the next decision already sees them gone.</summary>
    public void Take(ReservationPlan plan)
    {
        _ladder.Find(plan.PoolId)!.Take(plan.StartHour, plan.Hours, plan.Gpus);
        var entry = _pools[plan.PoolId];
        entry.InFlight[plan.ReservationId] = (plan, entry.TermsVersion);
    }

    /// <summary>
    /// The plan's fill is no longer being written: if it was not written, its hours are free again; if it was (or may
    /// have been), they stay taken until a read that began after now shows the pool as stored.
    /// </summary>
    public void Finished(ReservationPlan plan, bool written)
    {
        var entry = _pools[plan.PoolId];
        entry.InFlight.Remove(plan.ReservationId);
        if (written)
        {
            entry.Written[plan.ReservationId] = (plan, ++_sequence);
        }
        else
        {
            _ladder.Find(plan.PoolId)?.Give(plan.StartHour, plan.Hours, plan.Gpus);
        }
    }

    /// <summary>Marks the start of a read of a pool; pass it to <see cref="Apply"/> with what the read returned.</summary>
    public long BeginRead() => ++_sequence;

    /// <summary>
    /// Replaces the view of a pool with the pool as read from the database (the read began at <paramref name="readFrom"/>).
    /// Fills being written on it, and fills written since the read began, are taken out again unless the read holds them,
    /// so the view never shows capacity that a fill is using.
    /// </summary>
    public void Apply(PoolBooking booking, DateTimeOffset now, int hours, long readFrom)
    {
        var state = booking.State;
        var poolId = state.Spec.PoolId;
        if (!_pools.TryGetValue(poolId, out var entry))
        {
            entry = _pools[poolId] = new Entry(state.Spec);
        }
        if (readFrom < entry.ReadFrom)
        {
            return; // an older read overtaken by a newer one
        }
        entry.Spec = state.Spec;
        entry.ReadFrom = readFrom;
        entry.TermsVersion = booking.TermsVersion;
        foreach (var (id, written) in entry.Written.ToList())
        {
            if (written.Finished < readFrom)
            {
                entry.Written.Remove(id); // written before the read began: the read shows it as stored
            }
        }
        var start = Hours.Floor(now);
        var capacity = new int[hours];
        var free = new int[hours];
        for (var i = 0; i < hours; i++)
        {
            capacity[i] = free[i] = state.SellableAt(start + i);
        }
        DateTimeOffset? nextExpiry = null;
        foreach (var hold in state.Holds.Values)
        {
            if (!hold.Counts(now))
            {
                continue; // lapsed unconfirmed: its pool deletes it with its next write
            }
            if (!hold.Confirmed && hold.ExpiresAt is { } expires)
            {
                nextExpiry = nextExpiry is null || expires < nextExpiry ? expires : nextExpiry;
            }
            for (var h = Math.Max(hold.StartHour, start); h < Math.Min(hold.EndHour, start + hours); h++)
            {
                free[h - start] -= hold.Gpus;
            }
        }
        entry.NextHoldExpiry = nextExpiry;
        var book = new PoolBook(poolId, state.Spec.Site.Province, state.AskFenPerGpuHour, state.GpuCount, start, capacity, free,
            state.ReliabilityBasisPoints);
        var unseen = entry.InFlight.Values.Select(f => f.Plan).Concat(entry.Written.Values.Select(w => w.Plan))
            .Where(p => !state.Holds.ContainsKey(p.ReservationId));
        foreach (var plan in unseen)
        {
            book.Take(plan.StartHour, plan.Hours, plan.Gpus);
        }
        _ladder.Put(book);
    }
}
