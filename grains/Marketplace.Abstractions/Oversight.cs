namespace Marketplace;

/// <summary>A pool's load as it reports it to the utilization view. Basis points: 10000 = fully booked.</summary>
[GenerateSerializer, Immutable, Alias("pool-load")]
public sealed record PoolLoad(
    [Id(0)] string PoolId,
    [Id(1)] string ProviderId,
    [Id(2)] Site Site,
    [Id(3)] string GpuModel,
    [Id(4)] int GpuCount,
    [Id(5)] int BusyGpusNow,
    [Id(6)] long BookedGpuHours24h,
    [Id(7)] long CapacityGpuHours24h,
    [Id(8)] long AskFenPerGpuHour);

/// <summary>Demand resting unfilled in a market, by the province it wants (or the tenant's own when it names none).</summary>
[GenerateSerializer, Immutable, Alias("resting-demand")]
public sealed record RestingDemand(
    [Id(0)] string Province,
    [Id(1)] int Bids,
    [Id(2)] int Gpus);

[GenerateSerializer, Immutable, Alias("fill-tick")]
public sealed record FillTick(
    [Id(0)] string ReservationId,
    [Id(1)] string GpuModel,
    [Id(2)] string Province,
    [Id(3)] string SiteId,
    [Id(4)] int Gpus,
    [Id(5)] int Hours,
    [Id(6)] long FenPerGpuHour,
    [Id(7)] long VoucherFen,
    [Id(8)] DateTimeOffset At);

[GenerateSerializer, Immutable, Alias("province-utilization")]
public sealed record ProvinceUtilization(
    [Id(0)] string Province,
    [Id(1)] int GpuCount,
    [Id(2)] int BusyGpusNow,
    [Id(3)] int UtilizationBasisPoints,
    [Id(4)] int RestingBids,
    [Id(5)] int RestingGpus)
{
    /// <summary>The listed GPUs in compute: dense BF16/FP16 TFLOPS (thousandths of a PFLOPS), of models with a published figure.</summary>
    [Id(6)] public long CapacityTflops { get; init; }

    /// <summary>The TFLOPS busy now, of models with a published figure.</summary>
    [Id(7)] public long BusyTflopsNow { get; init; }

    /// <summary>The share of the next 24 hours' TFLOPS-hours booked, of models with a published figure (basis points).</summary>
    [Id(8)] public int ComputeUtilizationBasisPoints { get; init; }

    /// <summary>Listed GPUs of models without a published TFLOPS figure: counted in GPUs only, not in compute.</summary>
    [Id(9)] public int GpusWithoutTflops { get; init; }
}

[GenerateSerializer, Immutable, Alias("site-utilization")]
public sealed record SiteUtilization(
    [Id(0)] string SiteId,
    [Id(1)] string ProviderId,
    [Id(2)] string Name,
    [Id(3)] string Province,
    [Id(4)] string City,
    [Id(5)] double Latitude,
    [Id(6)] double Longitude,
    [Id(7)] int GreenPowerPercent,
    [Id(8)] int GpuCount,
    [Id(9)] int UtilizationBasisPoints);

[GenerateSerializer, Immutable, Alias("model-utilization")]
public sealed record ModelUtilization(
    [Id(0)] string GpuModel,
    [Id(1)] int GpuCount,
    [Id(2)] int UtilizationBasisPoints,
    [Id(3)] long LowestAskFenPerGpuHour);

/// <summary>The regulator's view of the market: utilization over the next 24 hours, by province, site and GPU model.</summary>
[GenerateSerializer, Immutable, Alias("utilization-snapshot")]
public sealed record UtilizationSnapshot(
    [Id(0)] long Version,
    [Id(1)] DateTimeOffset At,
    [Id(2)] IReadOnlyList<ProvinceUtilization> Provinces,
    [Id(3)] IReadOnlyList<SiteUtilization> Sites,
    [Id(4)] IReadOnlyList<ModelUtilization> Models,
    [Id(5)] IReadOnlyList<FillTick> RecentFills,
    [Id(6)] long FillsTotal);
