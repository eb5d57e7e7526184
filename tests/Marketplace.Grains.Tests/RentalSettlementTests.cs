using Marketplace.Domain;
using Xunit;

namespace Marketplace.Grains.Tests;

/// <summary>Rules 7 and 8 at settlement: who pays what of the hours a rental used.</summary>
public sealed class RentalSettlementTests
{
    [Fact]
    public void Rule7_the_hours_used_cost_the_ask_and_the_voucher_pays_its_hold_prorated_rounded_down()
    {
        // 4 GPUs for 10 hours at 1,500 fen, 7 of them used; the voucher held 48,001 fen of the 60,000.
        Assert.Equal((42_000L, 33_600L), RentalSettlement.Used(1_500, 4, 10, 7, 48_001));
        Assert.Equal((60_000L, 48_001L), RentalSettlement.Used(1_500, 4, 10, 10, 48_001));
        Assert.Equal((0L, 0L), RentalSettlement.Used(1_500, 4, 10, 0, 48_001));
    }

    [Fact]
    public void Rule7_the_tenant_pays_the_rest_from_its_cash_hold_and_the_provider_is_owed_the_cost()
    {
        var settled = RentalSettlement.Of(costFen: 42_000, capturedFen: 33_600, cashHeldFen: 12_000, outageRefundFen: 0);
        Assert.Equal(new RentalSettlement(42_000, 33_600, 8_400, 8_400, 0), settled);
        Assert.Equal(0, settled.OwedFen);
        Assert.Equal(42_000, settled.ProviderFen);
    }

    [Fact]
    public void Rule8_what_the_cash_hold_lacks_the_tenant_owes()
    {
        var shortHold = RentalSettlement.Of(costFen: 42_000, capturedFen: 0, cashHeldFen: 40_000, outageRefundFen: 0);
        Assert.Equal(new RentalSettlement(42_000, 0, 42_000, 40_000, 0), shortHold);
        Assert.Equal(2_000, shortHold.OwedFen);

        // Filled before cash was prepaid: no hold, the whole cash share is owed.
        var unheld = RentalSettlement.Of(costFen: 42_000, capturedFen: 33_600, cashHeldFen: null, outageRefundFen: 0);
        Assert.Equal(8_400, unheld.OwedFen);
    }

    [Fact]
    public void Rule8_the_providers_outage_refund_comes_off_what_it_is_owed_and_only_from_a_hold()
    {
        var interrupted = RentalSettlement.Of(costFen: 18_000, capturedFen: 0, cashHeldFen: 60_000, outageRefundFen: 4_200);
        Assert.Equal(new RentalSettlement(18_000, 0, 18_000, 18_000, 4_200), interrupted);
        Assert.Equal(13_800, interrupted.ProviderFen);
        Assert.Equal(0, RentalSettlement.Of(costFen: 18_000, capturedFen: 0, cashHeldFen: null, outageRefundFen: 4_200).RefundFen);
    }

    [Theory]
    [InlineData(3, 1_000, 4_200)]    // 7 of 10 hours undelivered: 42,000 fen at 10 % is 4,200
    [InlineData(10, 1_000, 0)]       // all delivered: nothing back
    [InlineData(0, 2_500, 15_000)]   // nothing delivered: the most a cancellation of the whole could cost
    public void Rule8_the_outage_refund_is_the_charge_on_the_hours_not_delivered(int delivered, int chargeBasisPoints, long refund)
    {
        Assert.Equal(refund, RentalSettlement.OutageRefund(1_500, 4, 10, delivered, chargeBasisPoints));
    }

    [Theory]
    [InlineData(105, 100, 10, 5)]
    [InlineData(100, 100, 10, 0)]
    [InlineData(95, 100, 10, 0)]     // an interruption before the start keeps nothing
    [InlineData(130, 100, 10, 10)]   // and one after the end keeps every hour
    public void An_interruption_keeps_the_hours_before_it_within_the_rental(long fromHour, long startHour, int hours, int kept)
    {
        Assert.Equal(kept, RentalSettlement.HoursBefore(fromHour, startHour, hours));
    }
}
