using Marketplace.Domain;

namespace Marketplace;

/// <summary>The GPU models the market trades: the ids of the accelerator catalogue. A market (and its grain) exists per model.</summary>
public static class GpuModels
{
    public static readonly IReadOnlyList<string> Known = Accelerators.All.Select(a => a.Id).ToList();

    public static bool IsKnown(string? model) => Accelerators.Find(model) is not null;
}
