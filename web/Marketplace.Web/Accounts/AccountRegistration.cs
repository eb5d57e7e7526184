using Marketplace.Web.Infrastructure;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace Marketplace.Web.Accounts;

/// <summary>Creates an account in its organisation, with the same checks wherever it is done (the API, the seeder).</summary>
internal sealed class AccountRegistration(UserManager<MarketplaceUser> users, [FromKeyedServices(Names.ClockKeys.Market)] TimeProvider clock)
{
    /// <summary>
    /// The new user; or <c>Taken</c> when an account has this email already (the caller decides what to say of it); or the
    /// field errors that refused it. The password is checked first, so a password too short is refused alike whether the
    /// email is taken or not. <paramref name="confirmed"/>: the address counts as confirmed (an admin's account, a seeded one);
    /// otherwise the account signs in only once its owner has confirmed it (<see cref="AddressConfirmation"/>).
    /// </summary>
    public async Task<(MarketplaceUser? User, bool Taken, Dictionary<string, string[]> Errors)> CreateAsync(string email, string password, Organisation organisation,
        bool confirmed)
    {
        var user = new MarketplaceUser
        {
            UserName = email,
            Email = email,
            EmailConfirmed = confirmed,
            Role = organisation.Role,
            TenantId = organisation.TenantId,
            ProviderId = organisation.ProviderId,
            CreatedAt = clock.GetUtcNow(),
        };
        IdentityResult created;
        try
        {
            created = await users.CreateAsync(user, password);
        }
        catch (DbUpdateException e) when (e.InnerException is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation })
        {
            // Registered by another request between Identity's check and its insert.
            return (null, true, []);
        }
        if (created.Succeeded)
        {
            return (user, false, []);
        }
        if (created.Errors.All(e => e.Code is nameof(IdentityErrorDescriber.DuplicateEmail) or nameof(IdentityErrorDescriber.DuplicateUserName)))
        {
            return (null, true, []);
        }
        var errors = created.Errors
            .GroupBy(e => e.Code.Contains("Password", StringComparison.Ordinal) ? "password" : "email")
            .ToDictionary(g => g.Key, g => g.Select(e => e.Description).ToArray());
        return (null, false, errors);
    }

    /// <summary>Field errors of an organisation a role acts for: an SME names a tenant, a provider a provider, the office neither.</summary>
    public static Check CheckOrganisation(Check check, string? role, string? tenantId, string? providerId, bool idsRequired = true)
    {
        if (role is null || !Names.Roles.All.Contains(role))
        {
            return check.Add("role", $"must be one of {string.Join(", ", Names.Roles.All)}");
        }
        // Needed for one role only, so not marked required on the request: said here, with the role that needs it.
        if (idsRequired && role == Names.Roles.Sme && string.IsNullOrEmpty(tenantId))
        {
            check.Missing("tenantId", "is required for an sme account: the tenant it acts for");
        }
        if (idsRequired && role == Names.Roles.Provider && string.IsNullOrEmpty(providerId))
        {
            check.Missing("providerId", "is required for a provider account: the provider it acts for");
        }
        check.Id(tenantId, "tenantId", required: false).Id(providerId, "providerId", required: false);
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
