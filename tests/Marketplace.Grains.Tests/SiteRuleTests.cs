using Marketplace.Domain.Rules;
using Xunit;

namespace Marketplace.Grains.Tests;

/// <summary>Rule 4 at a provider's sites: what a site declares installed, and what its pools may list there.</summary>
public sealed class SiteRuleTests
{
    private static readonly string[] Sites = ["site-1", "site-2"];

    [Fact]
    public void A_site_listed_twice_is_named_and_sites_listed_once_pass()
    {
        Assert.Equal("site-2", SiteRules.RepeatedSite(["site-1", "site-2", "site-3", "site-2"]));
        Assert.Null(SiteRules.RepeatedSite(["site-1", "site-2"]));
        Assert.Null(SiteRules.RepeatedSite([]));
    }

    [Fact]
    public void Installed_gpus_that_name_known_sites_and_models_once_within_range_pass()
    {
        Assert.Null(SiteRules.InstalledProblem(Sites, [("site-1", "H800-80G", 16), ("site-2", "H800-80G", 0), ("site-1", "A800-80G", PoolRules.MaxInstalledGpusPerModel)]));
        Assert.Null(SiteRules.InstalledProblem(Sites, []));
    }

    [Theory]
    [InlineData("site-9", "H800-80G", 8, "names no site of the provider ('site-9')")]
    [InlineData("site-1", "X-1", 8, "'X-1' is not a GPU model the market trades")]
    [InlineData("site-1", "H800-80G", -1, "count must be between 0 and 1000000")]
    [InlineData("site-1", "H800-80G", 1_000_001, "count must be between 0 and 1000000")]
    [InlineData("site-2", "A800-80G", 8, "site 'site-2' declares A800-80G twice")]
    public void The_first_wrong_installed_entry_is_named_by_its_index_with_what_is_wrong(string siteId, string gpuModel, int count, string problem)
    {
        var installed = new List<(string, string, int)> { ("site-1", "H800-80G", 8), ("site-2", "A800-80G", 4), (siteId, gpuModel, count), ("site-9", "X-2", -5) };
        Assert.Equal((2, problem), SiteRules.InstalledProblem(Sites, installed));
    }

    [Theory]
    [InlineData(16, 8, 8, null)]
    [InlineData(16, 16, 0, null)]
    [InlineData(16, 16, 1, "site 'site-1' has 16 H800-80G GPUs installed and 16 of them already listed; a pool of 1 does not fit")]
    [InlineData(0, 0, 1, "site 'site-1' has 0 H800-80G GPUs installed and 0 of them already listed; a pool of 1 does not fit")]
    public void Rule4_a_pool_fits_at_a_site_only_within_what_is_installed_and_not_yet_listed(int installed, int others, int gpus, string? problem)
    {
        Assert.Equal(problem, SiteRules.ListingProblem("site-1", "H800-80G", installed, others, gpus));
    }

    [Theory]
    [InlineData(16, 16, null)]
    [InlineData(17, 16, null)]
    [InlineData(11, 16, "site 'site-1' lists pools of 16 H800-80G GPUs; it cannot declare 11 installed")]
    public void Rule4_a_site_cannot_declare_fewer_gpus_than_its_pools_list(int installed, int listed, string? problem)
    {
        Assert.Equal(problem, SiteRules.DeclaredBelowListed("site-1", "H800-80G", installed, listed));
    }
}
