using System.Security.Claims;

namespace Marketplace.Web.Infrastructure;

/// <summary>Who is calling, from the bearer token: a role and, for SMEs and providers, the tenant or provider they act for.</summary>
internal sealed record Caller(string Subject, string Role, string? TenantId, string? ProviderId)
{
    public static Caller Of(HttpContext context) => Of(context.User);

    public static Caller Of(ClaimsPrincipal user) => new(
        user.FindFirstValue(Names.Claims.Subject) ?? "anonymous",
        user.FindFirstValue(Names.Claims.Role) ?? "none",
        user.FindFirstValue(Names.Claims.TenantId),
        user.FindFirstValue(Names.Claims.ProviderId));

    public bool IsOversight => Role is Names.Roles.Regulator or Names.Roles.Admin;

    /// <summary>The tenant an SME token acts for (the Sme policy guarantees it is there).</summary>
    public string Tenant => TenantId ?? throw new DomainException(ErrorKind.Forbidden, "no-tenant", "the token acts for no tenant");

    public string Provider => ProviderId ?? throw new DomainException(ErrorKind.Forbidden, "no-provider", "the token acts for no provider");
}
