namespace Marketplace.Grains;

[Alias("tenant")]
public interface ITenantGrain : IGrainWithStringKey
{
    /// <summary>Registers or updates the tenant's profile.</summary>
    [Alias("register")] Task<TenantView> Register(TenantRegistration registration);

    [Alias("get")] Task<TenantView?> Get();

    /// <summary>A regulator or admin verifies or rejects the registration.</summary>
    [Alias("review")] Task<TenantView> Review(CompanyDecision decision);
}
