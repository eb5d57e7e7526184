namespace Marketplace.Domain.Rules;

/// <summary>What a pool may list: its GPU count and its ask per GPU-hour.</summary>
public static class PoolRules
{
    /// <summary>The most GPUs of one model a site can declare installed.</summary>
    public const int MaxInstalledGpusPerModel = 1_000_000;

    public static FieldErrors Validate(int? gpuCount, long? askFenPerGpuHour, MarketLimits limits, bool required = true, FieldErrors? errors = null) =>
        (errors ?? new FieldErrors())
            .Range(gpuCount, 1, limits.MaxPoolGpus, "gpuCount", required)
            .Range(askFenPerGpuHour, 1, limits.MaxFenPerGpuHour, "askFenPerGpuHour", required);
}

/// <summary>The sizes of a bid: the gang, the duration (within the horizon) and the price limit.</summary>
public static class BidOrderRules
{
    /// <summary>Every field is bounded, so the cost (price × GPUs × hours) cannot overflow.</summary>
    public static FieldErrors Validate(int? gpuCount, int? durationHours, long? maxFenPerGpuHour, MarketLimits limits, FieldErrors? errors = null) =>
        (errors ?? new FieldErrors())
            .Range(gpuCount, 1, limits.MaxGangGpus, "gpuCount")
            .Range(durationHours, 1, limits.HorizonHours, "durationHours")
            .Range(maxFenPerGpuHour, 1, limits.MaxFenPerGpuHour, "maxFenPerGpuHour");
}
