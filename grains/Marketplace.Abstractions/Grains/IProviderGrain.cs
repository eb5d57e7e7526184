namespace Marketplace.Grains;

/// <summary>A data center or open institution (key: provider id). Entry point for everything a provider changes.</summary>
[Alias("provider")]
public interface IProviderGrain : IGrainWithStringKey
{
    [Alias("register")] Task<ProviderView> Register(ProviderRegistration registration);

    [Alias("get")] Task<ProviderView?> Get();

    /// <summary>A regulator or admin verifies or rejects the registration.</summary>
    [Alias("review")] Task<ProviderView> Review(CompanyDecision decision);

    [Alias("list-pool")] Task<PoolView> ListPool(PoolListing listing);

    [Alias("change-pool")] Task<PoolView> ChangePool(string poolId, PoolChange change);

    [Alias("outage")] Task<OutageReport> DeclareOutage(OutageRequest request);

    /// <summary>
    /// The provider's record of delivery may have changed (a reservation of its ended or was interrupted): it reads its
    /// reliability again and tells its pools' markets.
    /// </summary>
    [Alias("reliability-changed")] Task RecordChanged();

    /// <summary>Ends a declared outage early on every pool it covers (one pool, or every pool of a site).</summary>
    [Alias("end-outage")] Task<OutageEnded> EndOutage(string outageId);

    [Alias("pools")] Task<IReadOnlyList<PoolView>> GetPools();
}
