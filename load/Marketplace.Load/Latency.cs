using HdrHistogram;

namespace Marketplace.Load;

/// <summary>Percentiles of a latency, in milliseconds.</summary>
public sealed record Percentiles(long Count, double P50, double P95, double P99, double Max);

/// <summary>A latency histogram (microseconds, 1 µs to 5 min, 3 significant digits) over the whole run and since the last look.</summary>
public sealed class Latency
{
    private const long Highest = 300_000_000;
    private readonly LongHistogram _total = new(1, Highest, 3);
    private readonly LongHistogram _recent = new(1, Highest, 3);
    private readonly Lock _gate = new();

    public void Record(TimeSpan elapsed)
    {
        var micros = Math.Clamp((long)elapsed.TotalMicroseconds, 1, Highest);
        lock (_gate)
        {
            _total.RecordValue(micros);
            _recent.RecordValue(micros);
        }
    }

    public Percentiles Total()
    {
        lock (_gate)
        {
            return Of(_total);
        }
    }

    /// <summary>Percentiles since the previous call, then starts a new interval.</summary>
    public Percentiles TakeRecent()
    {
        lock (_gate)
        {
            var result = Of(_recent);
            _recent.Reset();
            return result;
        }
    }

    private static Percentiles Of(LongHistogram h) => h.TotalCount == 0
        ? new Percentiles(0, 0, 0, 0, 0)
        : new Percentiles(h.TotalCount, Ms(h.GetValueAtPercentile(50)), Ms(h.GetValueAtPercentile(95)), Ms(h.GetValueAtPercentile(99)), Ms(h.GetMaxValue()));

    private static double Ms(long micros) => Math.Round(micros / 1000.0, 2);
}
