namespace Marketplace.Domain.Rules;

/// <summary>What a pool may list: its GPU count and its ask per GPU-hour.</summary>
public static class PoolRules
{
    /// <summary>The most GPUs of one model a site can declare installed.</summary>
    public const int MaxInstalledGpusPerModel = 1_000_000;

    /// <summary>The bounds of a pool's fields, by JSON field name.</summary>
    public static IReadOnlyDictionary<string, Bounds> Ranges(MarketLimits limits) => new Dictionary<string, Bounds>
    {
        ["gpuCount"] = new(1, limits.MaxPoolGpus),
        ["askFenPerGpuHour"] = new(1, limits.MaxFenPerGpuHour),
    };

    public static FieldErrors Validate(int? gpuCount, long? askFenPerGpuHour, MarketLimits limits, bool required = true, FieldErrors? errors = null)
    {
        var ranges = Ranges(limits);
        return (errors ?? new FieldErrors())
            .Range(gpuCount, ranges["gpuCount"], "gpuCount", required)
            .Range(askFenPerGpuHour, ranges["askFenPerGpuHour"], "askFenPerGpuHour", required);
    }
}

/// <summary>The sizes of a bid: the gang, the duration (within the horizon), the price limit and the minimum reliability.</summary>
public static class BidOrderRules
{
    /// <summary>The bounds of a bid's sizes, by JSON field name. Every field is bounded, so the cost (price × GPUs × hours) cannot overflow.</summary>
    public static IReadOnlyDictionary<string, Bounds> Ranges(MarketLimits limits) => new Dictionary<string, Bounds>
    {
        ["gpuCount"] = new(1, limits.MaxGangGpus),
        ["durationHours"] = new(1, limits.HorizonHours),
        ["maxFenPerGpuHour"] = new(1, limits.MaxFenPerGpuHour),
        ["minReliabilityBasisPoints"] = Reliability.MinimumBounds,
    };

    public static FieldErrors Validate(int? gpuCount, int? durationHours, long? maxFenPerGpuHour, MarketLimits limits, FieldErrors? errors = null,
        int? minReliabilityBasisPoints = null) =>
        ValidateMinReliability(minReliabilityBasisPoints, limits, (errors ?? new FieldErrors())
            .Range(gpuCount, Ranges(limits)["gpuCount"], "gpuCount")
            .Range(durationHours, Ranges(limits)["durationHours"], "durationHours")
            .Range(maxFenPerGpuHour, Ranges(limits)["maxFenPerGpuHour"], "maxFenPerGpuHour"));

    /// <summary>A bid's optional minimum reliability (model and compute bids alike): 0..10000 basis points.</summary>
    public static FieldErrors ValidateMinReliability(int? minReliabilityBasisPoints, MarketLimits limits, FieldErrors? errors = null) =>
        (errors ?? new FieldErrors()).Range(minReliabilityBasisPoints, Ranges(limits)["minReliabilityBasisPoints"], "minReliabilityBasisPoints", required: false);
}
