using System.Runtime.InteropServices;

namespace Marketplace.Load;

/// <summary>What the figures were measured on.</summary>
public sealed record Machine(int Cores, string CpuModel, double MemoryGiB, string Os, string Runtime, double LoadAverage1m)
{
    public static Machine Describe()
    {
        var cpu = Lines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? RuntimeInformation.ProcessArchitecture.ToString();
        var memKb = Lines("/proc/meminfo").FirstOrDefault(l => l.StartsWith("MemTotal:", StringComparison.Ordinal))?
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1] is { } kb ? double.Parse(kb, System.Globalization.CultureInfo.InvariantCulture) : 0;
        var os = Lines("/etc/os-release").FirstOrDefault(l => l.StartsWith("PRETTY_NAME=", StringComparison.Ordinal))?[12..].Trim('"') ?? RuntimeInformation.OSDescription;
        var load = Lines("/proc/loadavg").FirstOrDefault()?.Split(' ')[0] is { } l1 ? double.Parse(l1, System.Globalization.CultureInfo.InvariantCulture) : 0;
        return new Machine(Environment.ProcessorCount, cpu, Math.Round(memKb / 1024 / 1024, 1), $"{os}, kernel {Environment.OSVersion.Version}",
            RuntimeInformation.FrameworkDescription, load);
    }

    private static IEnumerable<string> Lines(string path) => File.Exists(path) ? File.ReadLines(path) : [];
}
