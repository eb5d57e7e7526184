namespace Marketplace;

/// <summary>The GPU models the market trades. A market (and its grain) exists per model.</summary>
public static class GpuModels
{
    public static readonly IReadOnlyList<string> Known =
    [
        "H800-80G",
        "H20-96G",
        "A800-80G",
        "Ascend910B-64G",
        "L40S-48G",
        "RTX4090-24G",
    ];

    public static bool IsKnown(string? model) => model is not null && Known.Contains(model, StringComparer.Ordinal);
}
