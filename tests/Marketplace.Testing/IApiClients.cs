namespace Marketplace.Testing;

/// <summary>A running marketplace that hands out API clients acting for a role (with development tokens).</summary>
public interface IApiClients
{
    Task<HttpClient> ClientAsync(string role, string? tenantId = null, string? providerId = null);
}
