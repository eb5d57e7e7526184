using System.Globalization;

namespace Marketplace.Load;

/// <summary>
/// CPU time of the marketplace's processes from /proc: a watched process and all its descendants (PostgreSQL runs a
/// process per connection under its postmaster). Linux only; elsewhere nothing is measured.
/// </summary>
public sealed class ProcessCpu
{
    private readonly IReadOnlyList<(string Name, int Pid)> _watched;
    private readonly double _ticksPerSecond;
    private Dictionary<string, double> _start = [];
    private DateTimeOffset _startedAt;

    public ProcessCpu(IReadOnlyList<(string Name, int Pid)> watched, double ticksPerSecond = 100)
    {
        _watched = watched;
        _ticksPerSecond = ticksPerSecond;
    }

    /// <summary>Parses <c>name=pid</c> pairs.</summary>
    public static ProcessCpu Of(IEnumerable<string> pairs) => new(pairs.Select(p =>
    {
        var parts = p.Split('=', 2);
        return parts.Length == 2 && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
            ? (parts[0], pid)
            : throw new ArgumentException($"--watch takes name=pid, not '{p}'");
    }).ToList());

    public void Start()
    {
        _start = Seconds();
        _startedAt = DateTimeOffset.UtcNow;
    }

    /// <summary>Each watched process's CPU since <see cref="Start"/>, in cores (1.0 = one core busy all the time).</summary>
    public IReadOnlyDictionary<string, double> Cores()
    {
        var wall = (DateTimeOffset.UtcNow - _startedAt).TotalSeconds;
        var now = Seconds();
        return now.ToDictionary(p => p.Key, p => wall <= 0 ? 0 : Math.Round((p.Value - _start.GetValueOrDefault(p.Key)) / wall, 2));
    }

    private Dictionary<string, double> Seconds()
    {
        var stats = ReadAll();
        var result = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var (name, pid) in _watched)
        {
            var tree = new HashSet<int> { pid };
            bool grew;
            do
            {
                grew = false;
                foreach (var (child, stat) in stats)
                {
                    if (!tree.Contains(child) && tree.Contains(stat.Parent))
                    {
                        grew |= tree.Add(child);
                    }
                }
            }
            while (grew);
            result[name] = tree.Sum(p => stats.TryGetValue(p, out var s) ? s.Ticks : 0) / _ticksPerSecond;
        }
        return result;
    }

    private static Dictionary<int, (int Parent, long Ticks)> ReadAll()
    {
        var stats = new Dictionary<int, (int, long)>();
        if (!Directory.Exists("/proc"))
        {
            return stats;
        }
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }
            try
            {
                var text = File.ReadAllText(Path.Combine(dir, "stat"));
                // The command name is in parentheses and may hold spaces: the fields after it are fixed.
                var fields = text[(text.LastIndexOf(')') + 2)..].Split(' ');
                var parent = int.Parse(fields[1], CultureInfo.InvariantCulture);
                var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
                stats[pid] = (parent, ticks);
            }
            catch (IOException)
            {
                // the process ended while we looked
            }
            catch (UnauthorizedAccessException)
            {
                // not ours to read
            }
        }
        return stats;
    }
}
