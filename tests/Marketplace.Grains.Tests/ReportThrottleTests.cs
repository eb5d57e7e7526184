using Marketplace.Domain;
using Xunit;

namespace Marketplace.Grains.Tests;

/// <summary>When a moving figure (a pool's load for the regulator's view) is reported again.</summary>
public sealed class ReportThrottleTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 1, 2, 0, 0, TimeSpan.Zero);

    [Fact]
    public void The_first_figure_is_reported_and_the_same_figure_again_only_after_the_refresh()
    {
        var throttle = new ReportThrottle(TimeSpan.FromSeconds(10));
        Assert.True(throttle.Due(42, T0));
        Assert.False(throttle.Due(42, T0.AddSeconds(9)));
        Assert.True(throttle.Due(42, T0.AddSeconds(10)));
        Assert.False(throttle.Due(42, T0.AddSeconds(19)));
    }

    [Fact]
    public void A_changed_figure_is_reported_at_once()
    {
        var throttle = new ReportThrottle(TimeSpan.FromSeconds(10));
        Assert.True(throttle.Due(42, T0));
        Assert.True(throttle.Due(43, T0.AddSeconds(1)));
        Assert.False(throttle.Due(43, T0.AddSeconds(2)));
    }

    [Fact]
    public void A_clock_that_went_back_reports_again()
    {
        var throttle = new ReportThrottle(TimeSpan.FromSeconds(10));
        Assert.True(throttle.Due(42, T0));
        Assert.True(throttle.Due(42, T0.AddSeconds(-1)));
    }
}
