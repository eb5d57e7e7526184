using Marketplace.Domain;
using Xunit;

namespace Marketplace.Grains.Tests;

/// <summary>Hardening issue 17: the one definition of a provider's reliability score.</summary>
public sealed class ReliabilityTests
{
    private static readonly MarketLimits Limits = new() { ReliabilityMinimumGpuHours = 100, ReliabilityWindowDays = 90 };

    [Theory]
    [InlineData(100, 0, 10_000)]
    [InlineData(200, 3, 9_850)]     // 197 of 200 delivered: 98.5 %
    [InlineData(300, 1, 9_966)]     // 99.666… % rounds down
    [InlineData(100, 100, 0)]
    [InlineData(100, 150, 0)]       // never below nothing delivered
    public void The_score_is_the_share_of_booked_gpu_hours_delivered_rounded_down(long booked, long lost, int score)
    {
        Assert.Equal(score, Reliability.Score(new ProviderRecord(booked, lost), Limits));
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(99, 0)]
    [InlineData(99, 99)]
    public void A_provider_with_less_history_than_the_minimum_is_new_and_has_no_score(long booked, long lost)
    {
        Assert.Null(Reliability.Score(new ProviderRecord(booked, lost), Limits));
    }

    [Fact]
    public void A_negative_record_is_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Reliability.Score(new ProviderRecord(-1, 0), Limits));
        Assert.Throws<ArgumentOutOfRangeException>(() => Reliability.Score(new ProviderRecord(100, -1), Limits));
    }

    [Theory]
    [InlineData(null, null, true)]
    [InlineData(null, 0, true)]       // no minimum: a new provider may fill
    [InlineData(null, 1, false)]      // any minimum: a new provider does not meet it
    [InlineData(9_000, 9_000, true)]
    [InlineData(8_999, 9_000, false)]
    [InlineData(0, 0, true)]
    [InlineData(10_000, 10_000, true)]
    public void A_minimum_is_met_by_a_score_at_least_as_high_and_never_by_a_new_provider(int? score, int? minimum, bool meets)
    {
        Assert.Equal(meets, Reliability.Meets(score, minimum));
    }

    [Fact]
    public void The_window_reaches_back_its_days_from_the_current_hour()
    {
        Assert.Equal(1_000_000 - 90 * 24, Reliability.WindowStartHour(1_000_000, Limits));
    }
}
