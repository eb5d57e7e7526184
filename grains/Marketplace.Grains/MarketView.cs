using Marketplace.Matching;

namespace Marketplace.Grains;

/// <summary>
/// A market's view of its pools: each pool's calendar as the pool last reported it, less the plans whose sagas are
/// running on it. Decisions are made against it and take their hours from it at once, so the next decision already
/// sees them gone. The pools stay the authority: a refusal makes the market ask again (<see cref="Apply"/>).
/// </summary>
public sealed class MarketView
{
    private readonly AskLadder _ladder = new();
    private readonly Dictionary<string, Entry> _pools = new(StringComparer.Ordinal);

    private sealed class Entry(PoolSpec spec)
    {
        public PoolSpec Spec { get; set; } = spec;
        public long Version { get; set; } = -1;
        /// <summary>Plans whose sagas are running on this pool, taken from the view but maybe not yet held by the pool.</summary>
        public Dictionary<string, ReservationPlan> InFlight { get; } = new(StringComparer.Ordinal);
        /// <summary>When the first unconfirmed hold in the view lapses; from then on the view shows capacity that is free.</summary>
        public DateTimeOffset? NextHoldExpiry { get; set; }
    }

    /// <summary>The pools in ask order, as <see cref="MatchingEngine"/> wants them.</summary>
    public IReadOnlyList<PoolBook> Ladder => _ladder.Pools;

    public IReadOnlyCollection<string> PoolIds => _pools.Keys;

    public PoolSpec Spec(string poolId) => _pools[poolId].Spec;

    /// <summary>The plans running on a pool, which the pool's answer says whether it already holds.</summary>
    public IReadOnlyList<string> InFlight(string poolId) => _pools.TryGetValue(poolId, out var entry) ? entry.InFlight.Keys.ToList() : [];

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
    /// Replaces the view of a pool with the pool's own calendar. Sagas still running on it are taken out again unless
    /// the pool says it already holds them, so the view never shows capacity that a running saga is about to use.
    /// </summary>
    public void Apply(PoolSnapshot snapshot)
    {
        var poolId = snapshot.Spec.PoolId;
        if (!_pools.TryGetValue(poolId, out var entry))
        {
            entry = _pools[poolId] = new Entry(snapshot.Spec);
        }
        if (snapshot.Version < entry.Version)
        {
            return; // an older answer overtaken by a newer one
        }
        entry.Spec = snapshot.Spec;
        entry.Version = snapshot.Version;
        entry.NextHoldExpiry = snapshot.NextHoldExpiry;
        var calendar = snapshot.Calendar;
        var free = new int[calendar.Capacity.Length];
        for (var i = 0; i < free.Length; i++)
        {
            free[i] = calendar.Capacity[i] - calendar.Used[i];
        }
        var book = new PoolBook(poolId, snapshot.Spec.Site.Province, snapshot.AskFenPerGpuHour, snapshot.GpuCount, calendar.StartHour,
            (int[])calendar.Capacity.Clone(), free);
        foreach (var plan in entry.InFlight.Values.Where(p => !snapshot.HeldReservationIds.Contains(p.ReservationId)))
        {
            book.Take(plan.StartHour, plan.Hours, plan.Gpus);
        }
        _ladder.Put(book);
    }
}
