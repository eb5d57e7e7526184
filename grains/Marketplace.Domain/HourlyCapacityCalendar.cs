namespace Marketplace.Domain;

/// <summary>
/// GPUs in use per hour slot (whole hours since the epoch), kept in memory and rebuilt from the holds when a pool
/// activates; and the questions rule 4 asks of it.
/// </summary>
public sealed class HourlyCapacityCalendar
{
    private readonly Dictionary<long, int> _used = [];

    public int UsedAt(long hour) => _used.GetValueOrDefault(hour);

    public void Add(long startHour, long endHour, int gpus)
    {
        for (var h = startHour; h < endHour; h++)
        {
            _used[h] = _used.GetValueOrDefault(h) + gpus;
        }
    }

    public void Remove(long startHour, long endHour, int gpus)
    {
        for (var h = startHour; h < endHour; h++)
        {
            var left = _used.GetValueOrDefault(h) - gpus;
            if (left <= 0)
            {
                _used.Remove(h);
            }
            else
            {
                _used[h] = left;
            }
        }
    }

    /// <summary>The first hour in [<paramref name="from"/>, <paramref name="until"/>) that uses more than <paramref name="gpus"/> GPUs, or null.</summary>
    public long? FirstHourAbove(long from, long until, int gpus)
    {
        for (var h = from; h < until; h++)
        {
            if (UsedAt(h) > gpus)
            {
                return h;
            }
        }
        return null;
    }

    /// <summary>
    /// The first hour in [<paramref name="from"/>, <paramref name="until"/>) with fewer than <paramref name="gpus"/> GPUs
    /// free of its <paramref name="capacityAt"/>, or null when every one has room.
    /// </summary>
    public long? FirstHourShort(long from, long until, Func<long, int> capacityAt, int gpus)
    {
        for (var h = from; h < until; h++)
        {
            if (capacityAt(h) - UsedAt(h) < gpus)
            {
                return h;
            }
        }
        return null;
    }

    /// <summary>
    /// GPU-hours in use and GPU-hours of capacity (<paramref name="capacityAt"/>) over <paramref name="hours"/> hours from
    /// <paramref name="from"/>: how loaded the pool is over them.
    /// </summary>
    public (long Used, long Capacity) Load(long from, int hours, Func<long, int> capacityAt)
    {
        long used = 0, capacity = 0;
        for (var h = from; h < from + hours; h++)
        {
            used += UsedAt(h);
            capacity += capacityAt(h);
        }
        return (used, capacity);
    }

    /// <summary>The share of capacity in use, in basis points, rounded down: the whole (10000) when there is no capacity.</summary>
    public static int UtilizationBasisPoints(long used, long capacity) =>
        capacity == 0 ? Money.WholeInBasisPoints : (int)(used * Money.WholeInBasisPoints / capacity);

    /// <summary>Forgets hours before <paramref name="hour"/>, which can no longer be sold.</summary>
    public void ForgetBefore(long hour)
    {
        foreach (var h in _used.Keys.Where(h => h < hour).ToList())
        {
            _used.Remove(h);
        }
    }
}
