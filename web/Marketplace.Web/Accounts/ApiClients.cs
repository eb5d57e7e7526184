using System.Security.Cryptography;
using System.Text.Json;
using OpenIddict.Abstractions;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace Marketplace.Web.Accounts;

/// <summary>
/// API clients (client credentials: programs, the load tool): each is registered for one organisation and role, kept in
/// the application's properties, and its tokens act as that organisation.
/// </summary>
internal static class ApiClients
{
    private const string RoleProperty = "marketplace_role";
    private const string TenantProperty = "marketplace_tenant_id";
    private const string ProviderProperty = "marketplace_provider_id";

    /// <summary>
    /// Registers a confidential client; answers its secret, which is stored only as a hash. The secret is made here unless
    /// the deployment chose it (<see cref="AccountSeedSettings.AutomationClientSecret"/>).
    /// </summary>
    public static async Task<string> CreateAsync(IOpenIddictApplicationManager applications, string clientId, string displayName,
        Organisation organisation, CancellationToken cancellationToken, string? chosenSecret = null)
    {
        var secret = chosenSecret ?? Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        var descriptor = new OpenIddictApplicationDescriptor
        {
            ClientId = clientId,
            ClientSecret = secret,
            ClientType = ClientTypes.Confidential,
            DisplayName = displayName,
            Permissions =
            {
                Permissions.Endpoints.Token,
                Permissions.GrantTypes.ClientCredentials,
                Permissions.Prefixes.Scope + AccountsSetup.ApiScope,
            },
        };
        descriptor.Properties[RoleProperty] = JsonSerializer.SerializeToElement(organisation.Role);
        if (organisation.TenantId is not null)
        {
            descriptor.Properties[TenantProperty] = JsonSerializer.SerializeToElement(organisation.TenantId);
        }
        if (organisation.ProviderId is not null)
        {
            descriptor.Properties[ProviderProperty] = JsonSerializer.SerializeToElement(organisation.ProviderId);
        }
        await applications.CreateAsync(descriptor, cancellationToken);
        return secret;
    }

    public static async Task<Organisation?> OrganisationOfAsync(IOpenIddictApplicationManager applications, object application, CancellationToken cancellationToken)
    {
        var properties = await applications.GetPropertiesAsync(application, cancellationToken);
        return properties.TryGetValue(RoleProperty, out var role) && role.GetString() is { } name
            ? new Organisation(name,
                properties.TryGetValue(TenantProperty, out var tenant) ? tenant.GetString() : null,
                properties.TryGetValue(ProviderProperty, out var provider) ? provider.GetString() : null)
            : null;
    }
}
