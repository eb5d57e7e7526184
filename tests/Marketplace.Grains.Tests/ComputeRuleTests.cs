using Marketplace.Domain;
using Marketplace.Domain.Rules;
using Xunit;

namespace Marketplace.Grains.Tests;

/// <summary>Rule 9's arithmetic: PFLOPS-hours to accelerators, prices between the two units, and the ranking of offers.</summary>
public sealed class ComputeRuleTests
{
    private static readonly DateTimeOffset Noon = new(2026, 11, 30, 4, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData(10, 989, 2, 6)]     // 10,000 / 1,978 = 5.06: six accelerators
    [InlineData(4, 100, 1, 40)]     // exactly 40
    [InlineData(1, 2_000, 1, 1)]    // less than one accelerator-hour still takes one
    [InlineData(0, 989, 1, 0)]
    public void Rule9_accelerators_are_the_PFLOPS_hours_over_TFLOPS_times_hours_rounded_up(long pflopsHours, int tflops, int hours, long accelerators)
    {
        Assert.Equal(accelerators, ComputeRules.AcceleratorsFor(pflopsHours, tflops, hours));
        Assert.True(ComputeRules.TflopsHours((int)accelerators, hours, tflops) >= pflopsHours * ComputeRules.TflopsPerPflops);
    }

    [Theory]
    [InlineData(2_000, 989, 1_978)]
    [InlineData(1_000, 362, 362)]
    [InlineData(1_999, 165, 329)]   // 329.835 rounds down
    [InlineData(1, 165, 0)]         // below one fen per GPU-hour: this model cannot serve the bid
    public void Rule9_the_limit_per_GPU_hour_rounds_down_so_the_limit_per_PFLOPS_hour_holds(long perPflopsHour, int tflops, long perGpuHour)
    {
        Assert.Equal(perGpuHour, ComputeRules.MaxFenPerGpuHour(perPflopsHour, tflops));
        if (perGpuHour > 0)
        {
            Assert.True(ComputeRules.FenPerPflopsHour(perGpuHour, tflops) <= perPflopsHour);
            Assert.True(ComputeRules.FenPerPflopsHour(perGpuHour + 1, tflops) > perPflopsHour);
        }
    }

    [Theory]
    [InlineData(1_500, 989, 1_517)]  // 1,516.68 rounds up
    [InlineData(700, 362, 1_934)]
    [InlineData(150, 100, 1_500)]
    public void Rule9_the_price_per_PFLOPS_hour_rounds_up(long perGpuHour, int tflops, long perPflopsHour) =>
        Assert.Equal(perPflopsHour, ComputeRules.FenPerPflopsHour(perGpuHour, tflops));

    [Fact]
    public void Rule9_conversions_too_large_for_a_long_are_refused_not_wrapped()
    {
        Assert.Throws<OverflowException>(() => ComputeRules.AcceleratorsFor(long.MaxValue / 10, 989, 1));
        Assert.Throws<OverflowException>(() => ComputeRules.MaxFenPerGpuHour(long.MaxValue / 10, 989));
        Assert.Throws<OverflowException>(() => ComputeRules.FenPerPflopsHour(long.MaxValue / 10, 989));
    }

    [Fact]
    public void Rule9_offers_rank_by_price_per_PFLOPS_hour_exactly_then_earliest_start_then_catalogue_order()
    {
        var ranked = ComputeRules.Rank(
        [
            new ComputeOffer("L40S-48G", 362, 700, Noon, 3),          // 1,933.7 per PFLOPS-hour
            new ComputeOffer("H800-80G", 989, 1_500, Noon, 0),        // 1,516.7
            new ComputeOffer("MTTS4000-48G", 100, 150, Noon, 10),     // 1,500
            new ComputeOffer("later", 100, 150, Noon.AddHours(1), 1), // 1,500 but later
            new ComputeOffer("same", 200, 300, Noon, 9),              // 1,500, same start, earlier in the catalogue
        ]);
        Assert.Equal(["same", "MTTS4000-48G", "later", "H800-80G", "L40S-48G"], ranked.Select(o => o.GpuModel));
    }

    [Fact]
    public void Rule9_offers_that_round_to_the_same_price_per_PFLOPS_hour_still_rank_by_the_exact_price()
    {
        // 1,000,000 / 989 = 1,011.12 and 1,001,000 / 990 = 1,011.11: both show 1,012 fen, the second is cheaper.
        var ranked = ComputeRules.Rank([new ComputeOffer("a", 989, 1_000, Noon, 0), new ComputeOffer("b", 990, 1_001, Noon, 1)]);
        Assert.Equal(ComputeRules.FenPerPflopsHour(1_000, 989), ComputeRules.FenPerPflopsHour(1_001, 990));
        Assert.Equal(["b", "a"], ranked.Select(o => o.GpuModel));
    }

    [Fact]
    public void Rule9_candidates_need_a_published_TFLOPS_figure_the_memory_and_the_vendors_asked_for()
    {
        var limits = new MarketLimits();
        var all = ComputeRules.Candidates(10, 0, 2, 2_000, null, null, limits).Select(c => c.Accelerator.Id).ToList();
        Assert.Equal(Accelerators.All.Where(a => a.DenseFp16Tflops is not null).Select(a => a.Id), all);
        Assert.DoesNotContain("Ascend910B-64G", all);

        var big = ComputeRules.Candidates(10, 80, 2, 2_000, null, null, limits).Select(c => c.Accelerator.Id);
        Assert.Equal(["H800-80G", "H20-96G", "A800-80G"], big);

        var domestic = ComputeRules.Candidates(10, 0, 2, 2_000, [Accelerators.Cambricon, Accelerators.MooreThreads], null, limits);
        Assert.Equal(["MLU370X8-48G", "MTTS4000-48G"], domestic.Select(c => c.Accelerator.Id));

        // A gang larger than the market allows is no candidate: 1,024 accelerators at most by default.
        var huge = ComputeRules.Candidates(500, 0, 1, 2_000, null, ["H800-80G", "RTX4090-24G"], limits);
        Assert.Equal([("H800-80G", 506)], huge.Select(c => (c.Accelerator.Id, c.Accelerators)));
    }

    [Fact]
    public void Capacity_in_compute_is_the_catalogue_dense_figure_times_GPUs_and_none_for_a_model_without_one()
    {
        Assert.Equal(16L * 989, ComputeRules.Tflops("H800-80G", 16));
        Assert.Equal(48L * 362, ComputeRules.Tflops("L40S-48G", 48));
        Assert.Equal(0L, ComputeRules.Tflops("H800-80G", 0));
        Assert.Null(ComputeRules.Tflops("Ascend910B-64G", 8));
        Assert.Null(ComputeRules.Tflops("B200-192G", 8));
    }
}
