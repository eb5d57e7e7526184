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

    private sealed class Entry(PoolSpec spec)
    {
        public PoolSpec Spec { get; set; } = spec;
        public long Version { get; set; } = -1;
        /// <summary>The pool's <c>terms_version</c> as read: a fill decided on this view names it.</summary>
        public long TermsVersion { get; set; }
        /// <summary>Fills being written on this pool, taken from the view but maybe not yet stored.</summary>
        public Dictionary<string, ReservationPlan> InFlight { get; } = new(StringComparer.Ordinal);
        /// <summary>When the first unconfirmed hold in the view lapses; from then on the view shows capacity that is free.</summary>
        public DateTimeOffset? NextHoldExpiry { get; set; }
    }

    /// <summary>The pools in ask order, as <see cref="MatchingEngine"/> wants them.</summary>
    public IReadOnlyList<PoolBook> Ladder => _ladder.Pools;

    public IReadOnlyCollection<string> PoolIds => _pools.Keys;

    public PoolSpec Spec(string poolId) => _pools[poolId].Spec;

    /// <summary>The fills being written on a pool, to be taken out of what a read of the pool returns unless it holds them already.</summary>
    public IReadOnlyList<ReservationPlan> InFlightPlans(string poolId) => _pools.TryGetValue(poolId, out var entry) ? entry.InFlight.Values.ToList() : [];

    public long TermsVersion(string poolId) => _pools[poolId].TermsVersion;

    /// <summary>Pools whose unconfirmed holds have begun to lapse, so their view understates what is free.</summary>
    public IReadOnlyList<string> Lapsed(DateTimeOffset now) => _pools.Where(p => p.Value.NextHoldExpiry <= now).Select(p => p.Key).ToList();

    /// <summary>Takes the plan's hours from the view at once, so the next decision already sees them gone.</summary>
    public void Take(ReservationPlan plan)
    {
        _ladder.Find(plan.PoolId)!.Take(plan.StartHour, plan.Hours, plan.Gpus);
        _pools[plan.PoolId].InFlight[plan.ReservationId] = plan;
    }

    /// <summary>The plan's saga has ended: it no longer runs; if it did not confirm, its hours are free again.</summary>
    public void Finished(ReservationPlan plan, bool confirmed)
    {
        _pools[plan.PoolId].InFlight.Remove(plan.ReservationId);
        if (!confirmed)
        {
            _ladder.Find(plan.PoolId)?.Give(plan.StartHour, plan.Hours, plan.Gpus);
        }
    }

    /// <summary>
    /// Replaces the view of a pool with the pool as read from the database. Fills being written on it now, or when the
    /// read began (<paramref name="requested"/>: one may have committed after the read), are taken out again unless the
    /// read holds them, so the view never shows capacity that a fill is using.
    /// </summary>
    public void Apply(PoolBooking booking, DateTimeOffset now, int hours, IReadOnlyCollection<ReservationPlan> requested)
    {
        var state = booking.State;
        var poolId = state.Spec.PoolId;
        if (!_pools.TryGetValue(poolId, out var entry))
        {
            entry = _pools[poolId] = new Entry(state.Spec);
        }
        var version = booking.TermsVersion + booking.BookedVersion;
        if (version < entry.Version)
        {
            return; // an older read overtaken by a newer one
        }
        entry.Spec = state.Spec;
        entry.Version = version;
        entry.TermsVersion = booking.TermsVersion;
        var start = Hours.Floor(now);
        var capacity = new int[hours];
        var free = new int[hours];
        for (var i = 0; i < hours; i++)
        {
            capacity[i] = free[i] = state.CapacityAt(start + i);
        }
        DateTimeOffset? nextExpiry = null;
        foreach (var hold in state.Holds.Values)
        {
            if (!hold.Confirmed && hold.ExpiresAt is { } expires)
            {
                if (expires <= now)
                {
                    continue; // lapsed: its pool deletes it with its next write
                }
                nextExpiry = nextExpiry is null || expires < nextExpiry ? expires : nextExpiry;
            }
            for (var h = Math.Max(hold.StartHour, start); h < Math.Min(hold.EndHour, start + hours); h++)
            {
                free[h - start] -= hold.Gpus;
            }
        }
        entry.NextHoldExpiry = nextExpiry;
        var book = new PoolBook(poolId, state.Spec.Site.Province, state.AskFenPerGpuHour, state.GpuCount, start, capacity, free);
        foreach (var plan in entry.InFlight.Values.Concat(requested).DistinctBy(p => p.ReservationId).Where(p => !state.Holds.ContainsKey(p.ReservationId)))
        {
            book.Take(plan.StartHour, plan.Hours, plan.Gpus);
        }
        _ladder.Put(book);
    }
}
