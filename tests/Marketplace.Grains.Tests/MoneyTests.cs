using Marketplace.Domain;
using Xunit;

namespace Marketplace.Grains.Tests;

/// <summary>Rule 8 (money is long fen, checked) and rule 3's coverage share, on the pure money formulas.</summary>
public sealed class MoneyTests
{
    [Fact]
    public void Cost_is_gpus_times_hours_times_the_ask()
    {
        Assert.Equal(1_500L * 8 * 24, Money.Cost(1_500, 8, 24));
        Assert.Equal(0, Money.Cost(1_500, 8, 0));
    }

    [Fact]
    public void Cost_too_large_for_a_long_is_refused_not_wrapped()
    {
        Assert.Throws<OverflowException>(() => Money.Cost(long.MaxValue / 2, 3, 1));
        Assert.Throws<OverflowException>(() => Money.Cost(long.MaxValue, int.MaxValue, int.MaxValue));
    }

    [Fact]
    public void Negative_inputs_are_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Money.Cost(-1, 1, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => Money.Cost(1, -1, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => Money.VoucherShare(-1, 5_000));
        Assert.Throws<ArgumentOutOfRangeException>(() => Money.VoucherShare(100, 10_001));
    }

    [Theory]
    [InlineData(10_000, 8_000, 8_000)]
    [InlineData(10_000, 10_000, 10_000)]
    [InlineData(10_001, 5_000, 5_000)]   // half of 10,001 is 5,000.5: the voucher pays 5,000, the buyer the odd fen
    [InlineData(3, 3_333, 0)]           // 0.9999 fen rounds down to nothing
    [InlineData(1, 9_999, 0)]
    [InlineData(12_345, 1, 1)]          // 1.2345 fen
    [InlineData(0, 8_000, 0)]
    public void The_voucher_share_rounds_down_so_the_buyer_pays_the_odd_fen(long cost, int coverage, long share)
    {
        Assert.Equal(share, Money.VoucherShare(cost, coverage));
        Assert.True(cost - share >= 0);
    }

    [Fact]
    public void A_voucher_share_too_large_for_a_long_is_refused()
    {
        Assert.Throws<OverflowException>(() => Money.VoucherShare(long.MaxValue / 1_000, 8_000));
    }

    [Fact]
    public void Each_further_voucher_pays_its_share_of_what_is_left_and_together_never_more_than_the_cost()
    {
        const long cost = 10_001;
        var first = Money.StackedShare(cost, 0, 8_000, long.MaxValue);
        var second = Money.StackedShare(cost, first, 8_000, long.MaxValue);
        var third = Money.StackedShare(cost, first + second, 10_000, long.MaxValue);
        Assert.Equal(8_000, first);
        Assert.Equal(1_600, second);   // 80 % of the 2,001 left, rounded down
        Assert.Equal(401, third);      // the whole of what is left, and no more
        Assert.Equal(cost, first + second + third);
        Assert.Equal(0, Money.StackedShare(cost, cost, 10_000, long.MaxValue));
        Assert.Equal(0, Money.StackedShare(cost, cost + 5, 10_000, long.MaxValue));
    }

    [Fact]
    public void A_stacked_voucher_pays_no_more_than_it_has_left()
    {
        Assert.Equal(300, Money.StackedShare(10_000, 5_000, 10_000, 300));
        Assert.Equal(0, Money.StackedShare(10_000, 5_000, 10_000, 0));
    }

    [Theory]
    [InlineData(9_000, 10, 24, 3_750)]
    [InlineData(1_001, 1, 3, 333)]   // rounds down: the voucher never captures more than its share of the hours
    [InlineData(9_000, 24, 24, 9_000)]
    [InlineData(9_000, 0, 24, 0)]
    [InlineData(9_000, 0, 0, 0)]
    public void The_share_of_some_hours_is_prorated_and_rounded_down(long amount, int part, int whole, long expected)
    {
        Assert.Equal(expected, Money.Prorate(amount, part, whole));
    }

    [Fact]
    public void A_prorated_share_too_large_for_a_long_is_refused()
    {
        Assert.Throws<OverflowException>(() => Money.Prorate(long.MaxValue / 2, 3, 4));
    }

    [Theory]
    [InlineData(10_000, 2_000, 1_000, 8_000)]  // the cash share is more than the most a cancellation can cost
    [InlineData(10_000, 10_000, 1_000, 1_000)] // fully voucher-paid: the cancellation charge is still held in cash
    [InlineData(10_000, 9_500, 1_000, 1_000)]
    [InlineData(10_000, 9_500, 0, 500)]        // no charge in the terms: only the cash share
    [InlineData(999, 999, 1_000, 99)]          // 99.9 fen rounds down
    public void Rule8_the_cash_hold_is_the_cash_share_but_never_less_than_the_cancellation_charge(long cost, long voucher, int chargeBasisPoints, long hold) =>
        Assert.Equal(hold, Money.CashHold(cost, voucher, chargeBasisPoints));

    [Fact]
    public void Rule8_a_cancellation_is_free_until_the_free_hours_before_the_start_then_charged_in_basis_points()
    {
        var start = new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero);
        Assert.Equal(0, Money.CancellationCharge(10_000, start, start.AddHours(-24).AddTicks(-1), 24, 1_000));
        Assert.Equal(1_000, Money.CancellationCharge(10_000, start, start.AddHours(-24), 24, 1_000));
        Assert.Equal(1_000, Money.CancellationCharge(10_000, start, start.AddMinutes(-1), 24, 1_000));
        Assert.Throws<ArgumentOutOfRangeException>(() => Money.MostCancellationCharge(10_000, 10_001));
    }
}
