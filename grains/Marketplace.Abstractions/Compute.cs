using Marketplace.Domain;
using Marketplace.Domain.Rules;

namespace Marketplace;

/// <summary>
/// A bid for compute rather than for one model (DESIGN rule 9): at least <see cref="PflopsHours"/> of dense BF16/FP16 over
/// <see cref="DurationHours"/> consecutive hours, on accelerators of at least <see cref="MinMemoryGb"/> each, at no more
/// than <see cref="MaxFenPerPflopsHour"/>, optionally only of the <see cref="Vendors"/> or <see cref="GpuModels"/> named.
/// It is filled as an ordinary immediate-or-cancel gang bid in the one market that offers the compute cheapest.
/// </summary>
[GenerateSerializer, Immutable, Alias("compute-order")]
public sealed record ComputeOrder(
    [Id(0)] long PflopsHours,
    [Id(1)] int MinMemoryGb,
    [Id(2)] int DurationHours,
    [Id(3)] DateTimeOffset EarliestStart,
    [Id(4)] DateTimeOffset LatestStart,
    [Id(5)] long MaxFenPerPflopsHour,
    [Id(6)] IReadOnlyList<string>? Vendors,
    [Id(7)] IReadOnlyList<string>? GpuModels,
    [Id(8)] IReadOnlyList<string>? AllowedProvinces,
    [Id(9)] string? VoucherId,
    [Id(10)] int? MinReliabilityBasisPoints = null)
{
    /// <summary>The model bid this compute bid becomes in one market.</summary>
    public BidOrder For(ComputeSizing sizing) => new(sizing.Accelerator.Id, sizing.Accelerators, DurationHours, EarliestStart, LatestStart,
        sizing.MaxFenPerGpuHour, AllowedProvinces, VoucherId, TimeInForce.Ioc, null, MinReliabilityBasisPoints);
}

/// <summary>One model's answer to a compute quote: the gang it takes, its limit per GPU-hour and its quote, in both units.</summary>
[GenerateSerializer, Immutable, Alias("compute-quote")]
public sealed record ComputeQuote(
    [Id(0)] string GpuModel,
    [Id(1)] string Vendor,
    [Id(2)] int TflopsPerAccelerator,
    [Id(3)] int Accelerators,
    [Id(4)] int DurationHours,
    [Id(5)] long MaxFenPerGpuHour,
    [Id(6)] long? FenPerPflopsHour,
    [Id(7)] Quote Quote);

/// <summary>A bid's price and filled compute in PFLOPS terms, for models with a published TFLOPS figure.</summary>
public sealed record BidCompute(
    int TflopsPerAccelerator,
    long MaxFenPerPflopsHour,
    long? FenPerPflopsHour,
    long FilledTflopsHours)
{
    public static BidCompute? Of(BidOrder order, IReadOnlyList<Fill> fills)
    {
        if (Accelerators.Find(order.GpuModel)?.DenseFp16Tflops is not { } tflops)
        {
            return null;
        }
        var filled = fills.Sum(f => ComputeRules.TflopsHours(f.Gpus, (int)((f.EndsAt - f.StartsAt).Ticks / TimeSpan.TicksPerHour), tflops));
        return new BidCompute(tflops, ComputeRules.FenPerPflopsHour(order.MaxFenPerGpuHour, tflops),
            fills.Count == 0 ? null : ComputeRules.FenPerPflopsHour(fills[0].FenPerGpuHour, tflops), filled);
    }
}

/// <summary>A pool in compute terms: its capacity in TFLOPS (thousandths of a PFLOPS) and its ask per PFLOPS-hour.</summary>
public sealed record PoolCompute(int TflopsPerGpu, long CapacityTflops, long AskFenPerPflopsHour)
{
    public static PoolCompute? Of(string gpuModel, int gpus, long askFenPerGpuHour) =>
        Accelerators.Find(gpuModel)?.DenseFp16Tflops is { } tflops
            ? new PoolCompute(tflops, checked((long)gpus * tflops), ComputeRules.FenPerPflopsHour(askFenPerGpuHour, tflops))
            : null;
}

/// <summary>One ask of the book in compute terms, by pool.</summary>
public sealed record AskCompute(string PoolId, long CapacityTflops, long FenPerPflopsHour);

/// <summary>The book's asks in compute terms, for a model with a published TFLOPS figure.</summary>
public sealed record BookCompute(int TflopsPerGpu, IReadOnlyList<AskCompute> Asks)
{
    public static BookCompute? Of(string gpuModel, IReadOnlyList<AskLevel> asks) =>
        Accelerators.Find(gpuModel)?.DenseFp16Tflops is { } tflops
            ? new BookCompute(tflops, asks.Select(a => new AskCompute(a.PoolId, checked((long)a.GpuCount * tflops),
                ComputeRules.FenPerPflopsHour(a.FenPerGpuHour, tflops))).ToList())
            : null;
}
