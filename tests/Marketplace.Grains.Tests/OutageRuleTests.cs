using Marketplace.Domain;
using Xunit;

namespace Marketplace.Grains.Tests;

/// <summary>Rule 6: when an outage may be declared, and when ending it ends it.</summary>
public sealed class OutageRuleTests
{
    private static readonly DateTimeOffset From = new(2026, 12, 1, 2, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset To = From.AddHours(6);

    [Fact]
    public void Rule6_an_outage_must_end_after_it_starts()
    {
        Assert.Null(OutageRules.Problem(From, To));
        Assert.Equal("an outage must end after it starts", OutageRules.Problem(From, From));
        Assert.Equal("an outage must end after it starts", OutageRules.Problem(To, From));
    }

    [Fact]
    public void Rule6_an_outage_under_way_ends_when_it_is_ended()
    {
        Assert.Equal(From.AddMinutes(90), OutageRules.EndedAt(From, To, From.AddMinutes(90)));
        Assert.Equal(From, OutageRules.EndedAt(From, To, From));
    }

    [Fact]
    public void Rule6_an_outage_not_yet_begun_is_cancelled_it_ends_where_it_would_have_started()
    {
        Assert.Equal(From, OutageRules.EndedAt(From, To, From.AddHours(-3)));
    }

    [Fact]
    public void Rule6_an_outage_that_is_over_cannot_be_ended()
    {
        Assert.Null(OutageRules.EndedAt(From, To, To));
        Assert.Null(OutageRules.EndedAt(From, To, To.AddHours(1)));
    }
}
