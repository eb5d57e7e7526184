using Marketplace.Testing;
using Xunit;

namespace Marketplace.Web.Tests;

public sealed class PlatformCluster : WebCluster;

[CollectionDefinition(Name)]
public sealed class PlatformCollection : ICollectionFixture<PlatformCluster>
{
    public const string Name = "platform";
}
