namespace Marketplace.Grains;

/// <summary>The regulator's routing rule (key 0); every market reads it and is told when it changes.</summary>
[Alias("routing")]
public interface IRoutingGrain : IGrainWithIntegerKey
{
    /// <summary>Interleaves: a market activating while a change is being told to the markets reads the rule without waiting.</summary>
    [Alias("get"), Orleans.Concurrency.AlwaysInterleave] Task<RoutingPolicy> Get();

    /// <summary>Sets the rule and returns when every market decides by it.</summary>
    [Alias("set")] Task<RoutingPolicy> Set(IReadOnlyList<string> preferredProvinces, int withinBasisPoints, string updatedBy);
}
