namespace Marketplace.Domain.Rules;

/// <summary>
/// A compute bid (DESIGN rule 9) in the market's own unit: PFLOPS-hours of dense BF16/FP16 (<see cref="Accelerator.DenseFp16Tflops"/>).
/// All arithmetic is integer and checked: a GPU of T TFLOPS for one hour is T / 1000 PFLOPS-hours.
/// </summary>
public static class ComputeRules
{
    public const int TflopsPerPflops = 1_000;

    /// <summary>The most PFLOPS-hours one bid may ask for.</summary>
    public const long MaxPflopsHours = 10_000_000;

    /// <summary>The highest limit per PFLOPS-hour, in fen (ten million yuan).</summary>
    public const long MaxFenPerPflopsHour = 1_000_000_000;

    /// <summary>The largest minimum memory per accelerator a bid may ask for, in GB.</summary>
    public const int MaxMinMemoryGb = 4_096;

    /// <summary>The bounds of a compute bid's sizes, by JSON field name.</summary>
    public static IReadOnlyDictionary<string, Bounds> Ranges(MarketLimits limits) => new Dictionary<string, Bounds>
    {
        ["pflopsHours"] = new(1, MaxPflopsHours),
        ["minMemoryGb"] = new(0, MaxMinMemoryGb),
        ["maxFenPerPflopsHour"] = new(1, MaxFenPerPflopsHour),
        ["durationHours"] = BidOrderRules.Ranges(limits)["durationHours"],
    };

    public static FieldErrors Validate(long? pflopsHours, int? minMemoryGb, int? durationHours, long? maxFenPerPflopsHour, MarketLimits limits,
        FieldErrors? errors = null)
    {
        var ranges = Ranges(limits);
        return (errors ?? new FieldErrors())
            .Range(pflopsHours, ranges["pflopsHours"], "pflopsHours")
            .Range(minMemoryGb, ranges["minMemoryGb"], "minMemoryGb", required: false)
            .Range(durationHours, ranges["durationHours"], "durationHours")
            .Range(maxFenPerPflopsHour, ranges["maxFenPerPflopsHour"], "maxFenPerPflopsHour");
    }

    /// <summary>The accelerators that deliver at least <paramref name="pflopsHours"/> in <paramref name="hours"/>: ceil(N × 1000 / (T × hours)).</summary>
    public static long AcceleratorsFor(long pflopsHours, int tflops, int hours)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(tflops);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(hours);
        ArgumentOutOfRangeException.ThrowIfNegative(pflopsHours);
        var tflopsHours = checked(pflopsHours * TflopsPerPflops);
        var perAccelerator = checked((long)tflops * hours);
        return (tflopsHours + perAccelerator - 1) / perAccelerator;
    }

    /// <summary>
    /// The highest price per GPU-hour that keeps the price per PFLOPS-hour within <paramref name="maxFenPerPflopsHour"/>:
    /// floor(P × T / 1000), rounded down so that the PFLOPS-hour limit holds.
    /// </summary>
    public static long MaxFenPerGpuHour(long maxFenPerPflopsHour, int tflops)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(tflops);
        ArgumentOutOfRangeException.ThrowIfNegative(maxFenPerPflopsHour);
        return checked(maxFenPerPflopsHour * tflops) / TflopsPerPflops;
    }

    /// <summary>
    /// The price per PFLOPS-hour of a price per GPU-hour, rounded up: it is at most a limit P exactly when the price per
    /// GPU-hour is at most <see cref="MaxFenPerGpuHour"/>(P), so the figure shown and the fill agree.
    /// </summary>
    public static long FenPerPflopsHour(long fenPerGpuHour, int tflops)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(tflops);
        ArgumentOutOfRangeException.ThrowIfNegative(fenPerGpuHour);
        return (checked(fenPerGpuHour * TflopsPerPflops) + tflops - 1) / tflops;
    }

    /// <summary>
    /// The catalogue models that can serve a compute bid, in catalogue order, each with the gang it would take and the
    /// price limit per GPU-hour: a published TFLOPS figure, at least the memory asked for, within the vendors and models
    /// named (if any), a gang no larger than the market allows and a limit of at least one fen per GPU-hour.
    /// </summary>
    public static IReadOnlyList<ComputeSizing> Candidates(long pflopsHours, int minMemoryGb, int hours, long maxFenPerPflopsHour,
        IReadOnlyCollection<string>? vendors, IReadOnlyCollection<string>? models, MarketLimits limits)
    {
        var sizings = new List<ComputeSizing>();
        for (var i = 0; i < Accelerators.All.Count; i++)
        {
            var accelerator = Accelerators.All[i];
            if (accelerator.DenseFp16Tflops is not { } tflops || accelerator.MemoryGb < minMemoryGb
                || vendors is { Count: > 0 } && !vendors.Contains(accelerator.Vendor, StringComparer.Ordinal)
                || models is { Count: > 0 } && !models.Contains(accelerator.Id, StringComparer.Ordinal))
            {
                continue;
            }
            var count = AcceleratorsFor(pflopsHours, tflops, hours);
            var maxFen = Math.Min(MaxFenPerGpuHour(maxFenPerPflopsHour, tflops), limits.MaxFenPerGpuHour);
            if (count <= limits.MaxGangGpus && maxFen >= 1)
            {
                sizings.Add(new ComputeSizing(accelerator, (int)count, maxFen, i));
            }
        }
        return sizings;
    }

    /// <summary>
    /// The dense BF16/FP16 TFLOPS (thousandths of a PFLOPS) of <paramref name="gpus"/> accelerators of a model, or null for
    /// a model without a published figure (counted in GPUs only): the one conversion of GPUs into compute.
    /// </summary>
    public static long? Tflops(string gpuModel, long gpus) =>
        Accelerators.Find(gpuModel)?.DenseFp16Tflops is { } tflops ? checked(gpus * tflops) : null;

    /// <summary>TFLOPS-hours (thousandths of a PFLOPS-hour) of a gang: accelerators × hours × T.</summary>
    public static long TflopsHours(int accelerators, int hours, int tflops) => checked((long)accelerators * hours * tflops);

    /// <summary>
    /// Orders offers cheapest per PFLOPS-hour first, compared exactly (a × T_b against b × T_a, no rounding); then the
    /// earliest start; then catalogue order, so that the same offers always rank the same.
    /// </summary>
    public static IReadOnlyList<ComputeOffer> Rank(IEnumerable<ComputeOffer> offers) =>
        offers.OrderBy(o => o, OfferComparer.Instance).ToList();

    private sealed class OfferComparer : IComparer<ComputeOffer>
    {
        public static readonly OfferComparer Instance = new();

        public int Compare(ComputeOffer? x, ComputeOffer? y)
        {
            ArgumentNullException.ThrowIfNull(x);
            ArgumentNullException.ThrowIfNull(y);
            var byPrice = checked(x.FenPerGpuHour * y.Tflops).CompareTo(checked(y.FenPerGpuHour * x.Tflops));
            if (byPrice != 0)
            {
                return byPrice;
            }
            var byStart = x.StartsAt.CompareTo(y.StartsAt);
            return byStart != 0 ? byStart : x.CataloguePosition.CompareTo(y.CataloguePosition);
        }
    }
}

/// <summary>What one catalogue model needs to serve a compute bid: the gang and the price limit per GPU-hour.</summary>
public sealed record ComputeSizing(Accelerator Accelerator, int Accelerators, long MaxFenPerGpuHour, int CataloguePosition);

/// <summary>One model's best offer for a compute bid: its price per GPU-hour, its TFLOPS and when it could start.</summary>
public sealed record ComputeOffer(string GpuModel, int Tflops, long FenPerGpuHour, DateTimeOffset StartsAt, int CataloguePosition);
