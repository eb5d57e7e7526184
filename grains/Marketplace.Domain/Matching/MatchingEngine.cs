namespace Marketplace.Matching;

/// <summary>A bid as the matcher needs it. Hours are absolute; the start may fall anywhere in [earliest, latest].</summary>
public sealed record BidRequest(
    int Gpus,
    int Hours,
    long EarliestStartHour,
    long LatestStartHour,
    long MaxFenPerGpuHour,
    IReadOnlySet<string>? Provinces = null,
    int? MinReliabilityBasisPoints = null);

public enum NoMatchReason
{
    None,
    /// <summary>No pool of this model is listed at all.</summary>
    NoPools,
    /// <summary>No start in the window lies inside the booking horizon.</summary>
    OutsideHorizon,
    /// <summary>No pool of this model is in the allowed provinces.</summary>
    NoPoolInProvinces,
    /// <summary>The gang is larger than every pool: it can never fill in one pool.</summary>
    GangTooLarge,
    /// <summary>Pools at an acceptable price have the capacity, but the bid's voucher can pay none of them then.</summary>
    NotFundable,
    /// <summary>Pools at an acceptable price have the capacity, but their providers are below the bid's minimum reliability (or new).</summary>
    BelowReliability,
    /// <summary>Pools have the capacity, but every one of them asks more than the bid's limit.</summary>
    PriceAboveLimit,
    /// <summary>No pool at an acceptable price has the GPUs free for the whole duration in the window.</summary>
    NoCapacity,
}

public readonly record struct MatchDecision(PoolBook? Pool, long StartHour, int UtilizationBasisPoints, NoMatchReason Reason,
    PoolBook? UnfundablePool = null, long UnfundableStartHour = 0)
{
    public bool Matched => Pool is not null;
    public long FenPerGpuHour => Pool?.AskFenPerGpuHour ?? 0;
}

/// <summary>
/// The matching rule (DESIGN rule 5): among the pools that can take the whole gang for the whole duration in the
/// start window, pick the lowest ask; among equal asks the lowest utilization over the requested window (work goes to
/// idle sites); then the earliest start; then the pool id, so the decision is deterministic. The buyer pays the ask.
/// A bid with a minimum reliability considers only pools whose provider meets it (<see cref="Marketplace.Domain.Reliability.Meets"/>).
/// A regulator's <see cref="RoutingPreference"/> may send the bid to a preferred province within a margin of that ask.
/// </summary>
public static class MatchingEngine
{
    /// <param name="poolsByAsk">Candidate pools sorted by ask, lowest first (see <see cref="AskLadder"/>).</param>
    /// <param name="firstBookableHour">The first hour that may still be sold.</param>
    /// <param name="horizonEndHour">The first hour past the booking horizon.</param>
    /// <param name="excluded">Pools not to use (e.g. one whose outage caused a re-match).</param>
    /// <param name="fundableStarts">
    /// For a bid paid partly by a voucher: the windows of start hours (inclusive, in order) at which the voucher can pay
    /// each pool; the bid fills only there. Null for a cash bid.
    /// </param>
    /// <param name="routing">A regulator's preference for some provinces within a margin of the best ask, or null.</param>
    public static MatchDecision Decide(
        BidRequest bid,
        IReadOnlyList<PoolBook> poolsByAsk,
        long firstBookableHour,
        long horizonEndHour,
        IReadOnlySet<string>? excluded = null,
        Func<PoolBook, IReadOnlyList<(long Earliest, long Latest)>>? fundableStarts = null,
        RoutingPreference? routing = null)
    {
        var earliest = Math.Max(bid.EarliestStartHour, firstBookableHour);
        var latest = Math.Min(bid.LatestStartHour, horizonEndHour - bid.Hours);
        if (bid.Hours <= 0 || bid.Gpus <= 0 || earliest > latest)
        {
            return new(null, 0, 0, NoMatchReason.OutsideHorizon);
        }

        var windowEnd = latest + bid.Hours;
        PoolBook? best = null;
        long bestStart = 0;
        var bestUtilization = 0;
        var anyInProvince = false;
        var anyLargeEnough = false;
        var fitsAboveLimit = false;
        var belowReliability = false;
        PoolBook? unfundable = null;
        long unfundableStart = 0;

        for (var i = 0; i < poolsByAsk.Count; i++)
        {
            var pool = poolsByAsk[i];
            if (best is not null && pool.AskFenPerGpuHour > best.AskFenPerGpuHour)
            {
                break; // sorted by ask: nothing cheaper follows
            }
            if (excluded is not null && excluded.Contains(pool.PoolId))
            {
                continue;
            }
            if (bid.Provinces is { Count: > 0 } && !bid.Provinces.Contains(pool.Province))
            {
                continue;
            }
            anyInProvince = true;
            if (pool.GpuCount < bid.Gpus)
            {
                continue;
            }
            anyLargeEnough = true;
            if (pool.AskFenPerGpuHour > bid.MaxFenPerGpuHour)
            {
                // Only worth knowing why nothing matched; stop once we know a pricier pool could have taken it.
                if (!fitsAboveLimit && pool.EarliestFit(earliest, latest, bid.Hours, bid.Gpus) >= 0)
                {
                    fitsAboveLimit = true;
                    break;
                }
                continue;
            }

            var start = pool.EarliestFit(earliest, latest, bid.Hours, bid.Gpus);
            if (start < 0)
            {
                continue;
            }
            if (!Marketplace.Domain.Reliability.Meets(pool.ReliabilityBasisPoints, bid.MinReliabilityBasisPoints))
            {
                belowReliability = true;
                continue;
            }
            if (fundableStarts is not null)
            {
                var fit = start;
                start = EarliestFundableFit(pool, fundableStarts(pool), earliest, latest, bid);
                if (start < 0)
                {
                    if (unfundable is null)
                    {
                        (unfundable, unfundableStart) = (pool, fit);
                    }
                    continue;
                }
            }
            var utilization = pool.UtilizationBasisPoints(earliest, windowEnd);
            if (best is null || IsBetter(pool, start, utilization, best, bestStart, bestUtilization))
            {
                best = pool;
                bestStart = start;
                bestUtilization = utilization;
            }
        }

        if (best is not null)
        {
            if (routing is { IsActive: true } && !routing.Prefers(best.Province)
                && Preferred(bid, poolsByAsk, earliest, latest, windowEnd, excluded, fundableStarts, routing, best.AskFenPerGpuHour) is { } preferred)
            {
                return preferred;
            }
            return new(best, bestStart, bestUtilization, NoMatchReason.None);
        }
        var reason = poolsByAsk.Count == 0 ? NoMatchReason.NoPools
            : !anyInProvince ? NoMatchReason.NoPoolInProvinces
            : !anyLargeEnough ? NoMatchReason.GangTooLarge
            : unfundable is not null ? NoMatchReason.NotFundable
            : belowReliability ? NoMatchReason.BelowReliability
            : fitsAboveLimit ? NoMatchReason.PriceAboveLimit
            : NoMatchReason.NoCapacity;
        return new(null, 0, 0, reason, unfundable, unfundableStart);
    }

    /// <summary>The best pool in a preferred province whose ask is within the preference's margin of the best ask, if any.</summary>
    private static MatchDecision? Preferred(BidRequest bid, IReadOnlyList<PoolBook> poolsByAsk, long earliest, long latest, long windowEnd,
        IReadOnlySet<string>? excluded, Func<PoolBook, IReadOnlyList<(long Earliest, long Latest)>>? fundableStarts, RoutingPreference routing,
        long bestAsk)
    {
        var limit = Math.Min(routing.AskLimit(bestAsk), bid.MaxFenPerGpuHour);
        PoolBook? best = null;
        long bestStart = 0;
        var bestUtilization = 0;
        foreach (var pool in poolsByAsk)
        {
            if (pool.AskFenPerGpuHour > limit || (best is not null && pool.AskFenPerGpuHour > best.AskFenPerGpuHour))
            {
                break;
            }
            if (!routing.Prefers(pool.Province) || excluded?.Contains(pool.PoolId) == true
                || (bid.Provinces is { Count: > 0 } && !bid.Provinces.Contains(pool.Province))
                || !Marketplace.Domain.Reliability.Meets(pool.ReliabilityBasisPoints, bid.MinReliabilityBasisPoints))
            {
                continue;
            }
            var start = fundableStarts is null
                ? pool.EarliestFit(earliest, latest, bid.Hours, bid.Gpus)
                : EarliestFundableFit(pool, fundableStarts(pool), earliest, latest, bid);
            if (start < 0)
            {
                continue;
            }
            var utilization = pool.UtilizationBasisPoints(earliest, windowEnd);
            if (best is null || IsBetter(pool, start, utilization, best, bestStart, bestUtilization))
            {
                (best, bestStart, bestUtilization) = (pool, start, utilization);
            }
        }
        return best is null ? null : new MatchDecision(best, bestStart, bestUtilization, NoMatchReason.None);
    }

    private static long EarliestFundableFit(PoolBook pool, IReadOnlyList<(long Earliest, long Latest)> windows, long earliest, long latest, BidRequest bid)
    {
        foreach (var (from, to) in windows)
        {
            var start = pool.EarliestFit(Math.Max(earliest, from), Math.Min(latest, to), bid.Hours, bid.Gpus);
            if (start >= 0)
            {
                return start;
            }
        }
        return -1;
    }

    private static bool IsBetter(PoolBook pool, long start, int utilization, PoolBook best, long bestStart, int bestUtilization)
    {
        if (pool.AskFenPerGpuHour != best.AskFenPerGpuHour)
        {
            return pool.AskFenPerGpuHour < best.AskFenPerGpuHour;
        }
        if (utilization != bestUtilization)
        {
            return utilization < bestUtilization;
        }
        if (start != bestStart)
        {
            return start < bestStart;
        }
        return string.CompareOrdinal(pool.PoolId, best.PoolId) < 0;
    }
}
