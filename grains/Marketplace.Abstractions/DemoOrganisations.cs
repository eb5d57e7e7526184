namespace Marketplace;

/// <summary>
/// The organisations the demo's people sign in to (<c>./run.sh</c>): the demo activity's first SME and its Beijing data
/// centre, which the demo registers, verifies and trades for, so that a person signed in sees a company at work.
/// </summary>
public static class DemoOrganisations
{
    /// <summary>The demo's tenants are this prefix and a three-digit number: "demo-000", "demo-001", ...</summary>
    public const string TenantPrefix = "demo";

    /// <summary>The SME of <c>sme@demo.local</c>: the demo's first tenant, a Beijing AI company.</summary>
    public const string Tenant = TenantPrefix + "-000";

    /// <summary>The data centre of <c>provider@demo.local</c>: the demo's Beijing site.</summary>
    public const string Provider = "lp-beijing";

    /// <summary>The demo SME's person (Development only, <c>Accounts:DemoUsers</c>).</summary>
    public const string SmeEmail = "sme@demo.local";

    /// <summary>The password of every demo user unless <c>Accounts:DemoPassword</c> sets another.</summary>
    public const string Password = "demo-password-2026";
}
