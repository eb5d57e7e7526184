namespace Marketplace.Grains;

[Alias("tenant")]
public interface ITenantGrain : IGrainWithStringKey
{
    /// <summary>Registers or updates the tenant's profile.</summary>
    [Alias("register")] Task<TenantView> Register(TenantRegistration registration);

    [Alias("get")] Task<TenantView?> Get();
}
