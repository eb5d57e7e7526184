using Marketplace.Domain;
using Xunit;

namespace Marketplace.Grains.Tests;

/// <summary>Rule 4 on a pool's hours: GPUs in use per hour, and the first hour that is over or short.</summary>
public sealed class HourlyCapacityCalendarTests
{
    private static HourlyCapacityCalendar Booked()
    {
        var calendar = new HourlyCapacityCalendar();
        calendar.Add(100, 104, 3); // hours 100..103
        calendar.Add(102, 106, 2); // hours 102..105
        return calendar;
    }

    [Fact]
    public void Holds_add_up_per_hour_and_a_release_gives_back_only_its_hours()
    {
        var calendar = Booked();
        Assert.Equal([0, 3, 3, 5, 5, 2, 2, 0], Enumerable.Range(99, 8).Select(h => calendar.UsedAt(h)));
        calendar.Remove(103, 106, 2);
        Assert.Equal([0, 3, 3, 5, 3, 0, 0, 0], Enumerable.Range(99, 8).Select(h => calendar.UsedAt(h)));
        calendar.ForgetBefore(102);
        Assert.Equal([0, 0, 0, 5, 3, 0, 0, 0], Enumerable.Range(99, 8).Select(h => calendar.UsedAt(h)));
    }

    [Theory]
    [InlineData(100, 106, 4, 102L)]
    [InlineData(100, 106, 5, null)]   // never more than 5 in use
    [InlineData(104, 106, 1, 104L)]
    [InlineData(100, 102, 3, null)]   // the window ends before the busy hours
    [InlineData(106, 110, 0, null)]
    public void The_first_hour_above_a_gpu_count_is_the_first_a_pool_of_that_size_could_not_hold(long from, long until, int gpus, long? hour)
    {
        Assert.Equal(hour, Booked().FirstHourAbove(from, until, gpus));
    }

    [Theory]
    [InlineData(100, 104, 3, null)]   // 8 - 5 = 3 free at 102 and 103: just enough
    [InlineData(100, 104, 4, 102L)]   // a fourth GPU does not fit there
    [InlineData(100, 102, 5, null)]
    [InlineData(104, 106, 6, null)]   // 8 - 2 = 6 free
    [InlineData(98, 101, 1, 99L)]     // an hour without capacity is short of one GPU
    public void The_first_short_hour_is_the_first_without_that_many_gpus_free(long from, long until, int gpus, long? hour)
    {
        Assert.Equal(hour, Booked().FirstHourShort(from, until, h => h == 99 ? 0 : 8, gpus));
    }

    [Fact]
    public void The_load_over_some_hours_is_the_gpu_hours_in_use_and_of_capacity()
    {
        // Hours 98..105: 0, 0, 3, 3, 5, 5, 2, 2 in use of 8, with no capacity at 99.
        Assert.Equal((20L, 56L), Booked().Load(98, 8, h => h == 99 ? 0 : 8));
        Assert.Equal((0L, 0L), Booked().Load(100, 0, _ => 8));
    }

    [Theory]
    [InlineData(20, 56, 3_571)]   // 35.71… % rounds down
    [InlineData(0, 56, 0)]
    [InlineData(56, 56, 10_000)]
    [InlineData(0, 0, 10_000)]    // no capacity counts as full
    public void Utilization_is_the_share_in_use_in_basis_points_rounded_down(long used, long capacity, int basisPoints)
    {
        Assert.Equal(basisPoints, HourlyCapacityCalendar.UtilizationBasisPoints(used, capacity));
    }
}
