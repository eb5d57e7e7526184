using Marketplace.Domain;
using Xunit;

namespace Marketplace.Grains.Tests;

/// <summary>Rules 2 and 3 as the voucher reads them: who it never pays, and when it may fund a rental others fund.</summary>
public sealed class FundingRuleTests
{
    [Fact]
    public void Rule2_the_forbidden_codes_are_the_tenants_and_its_related_parties_at_the_claim_and_today_in_order()
    {
        var codes = FundingRules.ForbiddenCreditCodes("C-CLAIMED", ["R-FROZEN", "R-BOTH"], "A-TODAY", ["R-BOTH", "B-LATER"]);
        Assert.Equal(["A-TODAY", "B-LATER", "C-CLAIMED", "R-BOTH", "R-FROZEN"], codes);
    }

    [Fact]
    public void Rule2_a_later_change_adds_forbidden_codes_and_never_removes_those_frozen_at_the_claim()
    {
        // The tenant changed its own code and cleared its related parties after the claim.
        Assert.Equal(["NEW", "OLD", "SISTER"], FundingRules.ForbiddenCreditCodes("OLD", ["SISTER"], "NEW", []));
        // A tenant that cannot be read today still has what was frozen.
        Assert.Equal(["OLD", "SISTER"], FundingRules.ForbiddenCreditCodes("OLD", ["SISTER"], null, null));
        Assert.Empty(FundingRules.ForbiddenCreditCodes(null, null, null, null));
    }

    [Theory]
    [InlineData(false, new bool[0], true)]           // the first voucher always may
    [InlineData(true, new[] { true, true }, true)]
    [InlineData(false, new[] { true }, false)]       // this one does not stack
    [InlineData(true, new[] { true, false }, false)] // one already funding does not
    public void Rule3_a_voucher_funds_a_rental_others_fund_only_when_all_of_them_allow_stacking(bool stackable, bool[] others, bool allowed)
    {
        Assert.Equal(allowed, FundingRules.StackingAllowed(stackable, others));
    }
}
