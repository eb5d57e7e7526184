using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Identity.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore;
using OpenIddict.EntityFrameworkCore.Models;

namespace Marketplace.Web.Accounts;

/// <summary>
/// A person who signs in. They belong to one organisation: a tenant (an SME or startup team), a provider, or the
/// programme office (no id); their role is one of <see cref="Names.Roles"/>, so their tokens pass the same policies
/// as every other token.
/// </summary>
public sealed class MarketplaceUser : IdentityUser
{
    public string Role { get; set; } = "";

    public string? TenantId { get; set; }

    public string? ProviderId { get; set; }

    public DateTimeOffset CreatedAt { get; set; }
}

/// <summary>
/// Accounts and the OpenID Connect provider's applications, authorizations and tokens. The tables are created by the
/// ordered SQL migrations (db/migrations/0108_accounts.sql), never by Entity Framework at start-up.
/// </summary>
public sealed class AccountsDbContext(DbContextOptions<AccountsDbContext> options) : IdentityUserContext<MarketplaceUser>(options)
{
    protected override void OnModelCreating(ModelBuilder builder)
    {
        base.OnModelCreating(builder);
        builder.UseOpenIddict();
        // Lower-case names, as every other table of the marketplace.
        builder.Entity<MarketplaceUser>(u =>
        {
            u.ToTable("account_users");
            u.Property(x => x.Role).HasMaxLength(32).IsRequired();
            u.Property(x => x.TenantId).HasMaxLength(64);
            u.Property(x => x.ProviderId).HasMaxLength(64);
        });
        builder.Entity<IdentityUserClaim<string>>().ToTable("account_user_claims");
        builder.Entity<IdentityUserLogin<string>>().ToTable("account_user_logins");
        builder.Entity<IdentityUserToken<string>>().ToTable("account_user_tokens");
        builder.Entity<OpenIddictEntityFrameworkCoreApplication>().ToTable("oidc_applications");
        builder.Entity<OpenIddictEntityFrameworkCoreAuthorization>().ToTable("oidc_authorizations");
        builder.Entity<OpenIddictEntityFrameworkCoreScope>().ToTable("oidc_scopes");
        builder.Entity<OpenIddictEntityFrameworkCoreToken>().ToTable("oidc_tokens");
    }
}
