using Marketplace.Domain;
using Xunit;

namespace Marketplace.Grains.Tests;

/// <summary>Rules 1 and 7 in a voucher's money: holds, captures, releases and the end of a voucher, in fen.</summary>
public sealed class VoucherBalanceTests
{
    private static readonly VoucherBalance Open = new(FaceValueFen: 50_000, HeldFen: 12_000, CapturedFen: 3_000, ReturnedFen: 0, Ended: false);

    [Fact]
    public void Rule1_a_hold_takes_from_what_is_available()
    {
        var held = Open.Hold(5_000);
        Assert.Equal(Open with { HeldFen = 17_000 }, held);
        Assert.Equal(30_000, held.AvailableFen);
    }

    [Fact]
    public void Rule7_a_capture_moves_the_hold_to_captured_and_what_it_leaves_comes_back_to_an_open_voucher()
    {
        var settled = Open.Capture(holdFen: 10_000, capturedFen: 7_500);
        Assert.Equal(Open with { HeldFen = 2_000, CapturedFen = 10_500 }, settled);
        Assert.Equal(37_500, settled.AvailableFen);
        Assert.False(settled.Exhausted);
    }

    [Fact]
    public void Rule7_what_a_capture_leaves_of_an_ended_voucher_goes_back_to_the_programme()
    {
        var ended = Open with { Ended = true, ReturnedFen = 35_000 };
        var settled = ended.Capture(holdFen: 10_000, capturedFen: 7_500);
        Assert.Equal(ended with { HeldFen = 2_000, CapturedFen = 10_500, ReturnedFen = 37_500 }, settled);
        Assert.Equal(0, settled.AvailableFen);
    }

    [Fact]
    public void Rule1_an_open_voucher_whose_captures_reach_its_face_value_is_exhausted_an_ended_one_is_not()
    {
        var full = new VoucherBalance(10_000, 10_000, 0, 0, Ended: false);
        Assert.True(full.Capture(10_000, 10_000).Exhausted);
        Assert.False(full.Capture(10_000, 9_999).Exhausted);
        Assert.False((full with { Ended = true }).Capture(10_000, 10_000).Exhausted);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(10_001)]
    public void A_capture_outside_its_hold_is_refused(long captured)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Open.Capture(10_000, captured));
    }

    [Fact]
    public void Rule1_a_release_comes_back_to_an_open_voucher_and_to_the_programme_from_an_ended_one()
    {
        Assert.Equal(Open with { HeldFen = 8_000 }, Open.Release(4_000));
        var ended = Open with { Ended = true, ReturnedFen = 35_000 };
        Assert.Equal(ended with { HeldFen = 8_000, ReturnedFen = 39_000 }, ended.Release(4_000));
    }

    [Fact]
    public void Rule1_a_voucher_that_ends_returns_only_what_no_hold_keeps()
    {
        var ended = Open.End();
        Assert.Equal(Open with { ReturnedFen = 35_000, Ended = true }, ended);
        Assert.Equal(0, ended.AvailableFen);
        Assert.Equal(12_000, ended.HeldFen); // settled later: the rentals end by the expiry
    }

    [Theory]
    [InlineData(10_000, 4_000, 6_000)]
    [InlineData(10_000, 0, 10_000)]
    [InlineData(10_000, -5, 10_000)]  // nothing to keep is keeping nothing
    [InlineData(10_000, 10_000, 0)]
    [InlineData(10_000, 12_000, 0)]   // keeping more than the hold lets nothing go
    public void Trimming_a_hold_lets_go_of_what_is_above_what_it_keeps(long hold, long keep, long released)
    {
        Assert.Equal(released, VoucherBalance.Trimmed(hold, keep));
    }
}
