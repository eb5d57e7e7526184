using Marketplace.Domain;
using Xunit;

namespace Marketplace.Grains.Tests;

/// <summary>Rule 9: one catalogue of accelerators, every figure either published and positive or absent.</summary>
public sealed class AcceleratorCatalogueTests
{
    [Fact]
    public void Rule9_catalogue_ids_are_unique_and_are_the_traded_models()
    {
        var ids = Accelerators.All.Select(a => a.Id).ToList();
        Assert.Equal(ids.Count, ids.Distinct(StringComparer.Ordinal).Count());
        Assert.Equal(ids, GpuModels.Known);
    }

    [Fact]
    public void Rule9_the_models_traded_before_the_catalogue_keep_their_market_keys()
    {
        foreach (var id in new[] { "H800-80G", "H20-96G", "A800-80G", "Ascend910B-64G", "L40S-48G", "RTX4090-24G" })
        {
            Assert.True(GpuModels.IsKnown(id), id);
        }
        Assert.False(GpuModels.IsKnown("h800-80g"));
        Assert.False(GpuModels.IsKnown(null));
    }

    [Fact]
    public void Rule9_memory_and_every_published_figure_are_positive()
    {
        foreach (var a in Accelerators.All)
        {
            Assert.True(a.MemoryGb > 0, a.Id);
            Assert.True(a.DenseFp16Tflops is null or > 0, a.Id);
            Assert.True(a.DenseFp8Tflops is null or > 0, a.Id);
            Assert.True(a.DenseInt8Tops is null or > 0, a.Id);
            Assert.False(string.IsNullOrWhiteSpace(a.Vendor), a.Id);
            Assert.False(string.IsNullOrWhiteSpace(a.Model), a.Id);
            Assert.Equal(a.Interconnect == InterconnectClass.ScaleUpLink, a.Link is not null);
        }
    }

    [Fact]
    public void Rule9_the_catalogue_covers_domestic_vendors_as_well_as_nvidia()
    {
        Assert.Equal([Accelerators.Nvidia, Accelerators.Huawei, Accelerators.Hygon, Accelerators.Kunlunxin, Accelerators.Cambricon, Accelerators.MooreThreads],
            Accelerators.Vendors);
    }
}
