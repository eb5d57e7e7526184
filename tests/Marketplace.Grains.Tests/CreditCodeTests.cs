using Xunit;

namespace Marketplace.Grains.Tests;

public sealed class CreditCodeTests
{
    [Theory]
    [InlineData("91350100M000100Y43")] // the example printed with GB 32100-2015
    [InlineData("91620100MA7ABCDE1Q")]
    public void Valid_codes_pass(string code) => Assert.True(CreditCode.IsValid(code));

    [Theory]
    [InlineData("91350100M000100Y44", "check character should be '3'")]
    [InlineData("91350100M000100Y4", "must be 18 characters")]
    [InlineData("91350100I000100Y43", "character 9 ('I') is not allowed")]
    [InlineData("91350100m000100Y43", "character 9 ('m') is not allowed")]
    [InlineData("", "is required")]
    public void Invalid_codes_say_why(string code, string why) => Assert.Equal(why, CreditCode.Validate(code));

    [Fact]
    public void Complete_adds_the_check_character() => Assert.Equal("91350100M000100Y43", CreditCode.Complete("91350100M000100Y4"));
}
