using Marketplace.Testing;
using Xunit;

namespace Marketplace.Security.Tests;

/// <summary>
/// The web tier on real Kestrel (so the body size limit and HTTP parsing are the production ones), a test cluster and
/// a seeded <see cref="World"/> of two tenants, two providers, a program, vouchers, bids and reservations.
/// </summary>
public class SecurityCluster : WebCluster
{
    private readonly SemaphoreSlim _seeding = new(1, 1);
    private World? _world;

    protected override bool UseKestrel => true;

    /// <summary>The seeded actors, built on first use and shared by the tests of the collection.</summary>
    public async Task<World> WorldAsync()
    {
        await _seeding.WaitAsync();
        try
        {
            return _world ??= await World.CreateAsync(this);
        }
        finally
        {
            _seeding.Release();
        }
    }
}

/// <summary>The matrix, hub, idempotency, validation and audit tests.</summary>
public sealed class MatrixCluster : SecurityCluster;

[CollectionDefinition(Name)]
public sealed class MatrixCollection : ICollectionFixture<MatrixCluster>
{
    public const string Name = "security";
}

/// <summary>The fuzz test has a cluster of its own, so nothing else writes to its database while it compares snapshots.</summary>
public sealed class FuzzCluster : SecurityCluster
{
    // The hub fuzz makes hundreds of calls a connection: what each one does is the point here, not the per-connection limit
    // (the hub tests cover that).
    protected override IReadOnlyDictionary<string, string?> WebSettings => new Dictionary<string, string?>
    {
        ["RateLimiting:HubCallBurst"] = "10000",
        ["RateLimiting:HubCallsPerSecond"] = "10000",
    };
}

[CollectionDefinition(Name)]
public sealed class FuzzCollection : ICollectionFixture<FuzzCluster>
{
    public const string Name = "fuzz";
}

/// <summary>The production rate limiter with small limits: a burst of five, one more request per second.</summary>
public sealed class RateLimitCluster : SecurityCluster
{
    public const int Burst = 5;

    protected override IReadOnlyDictionary<string, string?> WebSettings => new Dictionary<string, string?>
    {
        ["RateLimiting:PermitsPerSecond"] = "1",
        ["RateLimiting:Burst"] = Burst.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}

[CollectionDefinition(Name)]
public sealed class RateLimitCollection : ICollectionFixture<RateLimitCluster>
{
    public const string Name = "rate-limit";
}
