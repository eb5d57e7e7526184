using Marketplace.Web.Infrastructure;
using Microsoft.AspNetCore.Identity;

namespace Marketplace.Web.Accounts;

/// <summary>Creates an account in its organisation, with the same checks wherever it is done (the API, the seeder).</summary>
internal sealed class AccountRegistration(UserManager<MarketplaceUser> users, [FromKeyedServices(Names.ClockKeys.Market)] TimeProvider clock)
{
    /// <summary>The new user, or the field errors that refused it (a taken email is one of them).</summary>
    public async Task<(MarketplaceUser? User, Dictionary<string, string[]> Errors)> CreateAsync(string email, string password, Organisation organisation)
    {
        var user = new MarketplaceUser
        {
            UserName = email,
            Email = email,
            Role = organisation.Role,
            TenantId = organisation.TenantId,
            ProviderId = organisation.ProviderId,
            CreatedAt = clock.GetUtcNow(),
        };
        var created = await users.CreateAsync(user, password);
        if (created.Succeeded)
        {
            return (user, []);
        }
        var errors = created.Errors
            .GroupBy(e => e.Code.Contains("Password", StringComparison.Ordinal) ? "password" : "email")
            .ToDictionary(g => g.Key, g => g.Select(e => e.Description).ToArray());
        return (null, errors);
    }

    /// <summary>Field errors of an organisation a role acts for: an SME names a tenant, a provider a provider, the office neither.</summary>
    public static Check CheckOrganisation(Check check, string? role, string? tenantId, string? providerId, bool idsRequired = true)
    {
        if (role is null || !Names.Roles.All.Contains(role))
        {
            return check.Add("role", $"must be one of {string.Join(", ", Names.Roles.All)}");
        }
        check.Id(tenantId, "tenantId", required: idsRequired && role == Names.Roles.Sme)
            .Id(providerId, "providerId", required: idsRequired && role == Names.Roles.Provider);
        if (role != Names.Roles.Sme && tenantId is not null)
        {
            check.Add("tenantId", $"a {role} acts for no tenant");
        }
        if (role != Names.Roles.Provider && providerId is not null)
        {
            check.Add("providerId", $"a {role} acts for no provider");
        }
        return check;
    }
}
