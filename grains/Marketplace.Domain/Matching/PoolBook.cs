using Marketplace.Domain;

namespace Marketplace.Matching;

/// <summary>
/// A pool's hourly capacity as the matcher sees it: free GPUs and capacity per hour from <see cref="BaseHour"/>.
/// Hours are absolute (whole hours since the Unix epoch). Hours outside the arrays have no capacity.
/// </summary>
public sealed class PoolBook
{
    private readonly int[] _free;
    private readonly int[] _capacity;
    private long[]? _freePrefix;
    private long[]? _capacityPrefix;

    public PoolBook(string poolId, string province, long askFenPerGpuHour, int gpuCount, long baseHour, int[] capacity, int[] free,
        int? reliabilityBasisPoints = null)
    {
        if (capacity.Length != free.Length)
        {
            throw new ArgumentException("capacity and free must cover the same hours");
        }
        PoolId = poolId;
        Province = province;
        AskFenPerGpuHour = askFenPerGpuHour;
        GpuCount = gpuCount;
        BaseHour = baseHour;
        _capacity = capacity;
        _free = free;
        ReliabilityBasisPoints = reliabilityBasisPoints;
    }

    public string PoolId { get; }
    public string Province { get; }
    public long AskFenPerGpuHour { get; }
    public int GpuCount { get; }
    public long BaseHour { get; }
    /// <summary>The pool's provider's reliability score (<see cref="Marketplace.Domain.Reliability"/>), or null for a new provider.</summary>
    public int? ReliabilityBasisPoints { get; }
    public long EndHour => BaseHour + _free.Length;

    public int FreeAt(long hour) => hour >= BaseHour && hour < EndHour ? _free[hour - BaseHour] : 0;

    public int CapacityAt(long hour) => hour >= BaseHour && hour < EndHour ? _capacity[hour - BaseHour] : 0;

    /// <summary>Takes <paramref name="gpus"/> out of the free count for the hours (a tentative hold while a saga runs).</summary>
    public void Take(long startHour, int hours, int gpus) => Adjust(startHour, hours, -gpus);

    /// <summary>Gives back what <see cref="Take"/> took.</summary>
    public void Give(long startHour, int hours, int gpus) => Adjust(startHour, hours, gpus);

    private void Adjust(long startHour, int hours, int delta)
    {
        for (var h = Math.Max(startHour, BaseHour); h < Math.Min(startHour + hours, EndHour); h++)
        {
            _free[h - BaseHour] += delta;
        }
        _freePrefix = null;
    }

    /// <summary>
    /// The earliest start in [<paramref name="earliest"/>, <paramref name="latest"/>] at which <paramref name="gpus"/>
    /// GPUs are free for <paramref name="hours"/> consecutive hours, or -1.
    /// </summary>
    public long EarliestFit(long earliest, long latest, int hours, int gpus)
    {
        if (gpus > GpuCount)
        {
            return -1;
        }
        var from = Math.Max(earliest, BaseHour);
        var to = Math.Min(latest + hours, EndHour); // exclusive
        var run = 0;
        for (var h = from; h < to; h++)
        {
            if (_free[h - BaseHour] >= gpus)
            {
                if (++run >= hours)
                {
                    return h - hours + 1;
                }
            }
            else
            {
                run = 0;
            }
        }
        return -1;
    }

    /// <summary>Share of capacity already taken over [from, to), in basis points (10000 = full or no capacity).</summary>
    public int UtilizationBasisPoints(long from, long to)
    {
        from = Math.Clamp(from, BaseHour, EndHour);
        to = Math.Clamp(to, from, EndHour);
        var (freePrefix, capacityPrefix) = Prefixes();
        var capacity = capacityPrefix[to - BaseHour] - capacityPrefix[from - BaseHour];
        var free = freePrefix[to - BaseHour] - freePrefix[from - BaseHour];
        return HourlyCapacityCalendar.UtilizationBasisPoints(capacity - free, capacity);
    }

    /// <summary>Free GPU-hours from <paramref name="from"/> to the end of the book.</summary>
    public long FreeGpuHours(long from)
    {
        from = Math.Clamp(from, BaseHour, EndHour);
        var (freePrefix, _) = Prefixes();
        return freePrefix[_free.Length] - freePrefix[from - BaseHour];
    }

    private (long[] Free, long[] Capacity) Prefixes()
    {
        if (_capacityPrefix is null)
        {
            _capacityPrefix = PrefixSums(_capacity);
        }
        _freePrefix ??= PrefixSums(_free);
        return (_freePrefix, _capacityPrefix);
    }

    private static long[] PrefixSums(int[] values)
    {
        var sums = new long[values.Length + 1];
        for (var i = 0; i < values.Length; i++)
        {
            sums[i + 1] = sums[i] + Math.Max(0, values[i]);
        }
        return sums;
    }
}
