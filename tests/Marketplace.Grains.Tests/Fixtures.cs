using Marketplace.Testing;
using Xunit;

namespace Marketplace.Grains.Tests;

/// <summary>Voucher tests share one cluster; market tests another, so the two collections run side by side.</summary>
public sealed class VoucherCluster : MarketCluster;

[CollectionDefinition(Name)]
public sealed class VoucherCollection : ICollectionFixture<VoucherCluster>
{
    public const string Name = "vouchers";
}

public sealed class MarketTestCluster : MarketCluster;

[CollectionDefinition(Name)]
public sealed class MarketCollection : ICollectionFixture<MarketTestCluster>
{
    public const string Name = "market";
}

/// <summary>A cluster of its own for tests that restart silos or deactivate grains, so no other test is disturbed.</summary>
public sealed class RestartCluster : MarketCluster;

[CollectionDefinition(Name)]
public sealed class RestartCollection : ICollectionFixture<RestartCluster>
{
    public const string Name = "restart";
}
