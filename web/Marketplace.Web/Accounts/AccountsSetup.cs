using System.Security.Cryptography.X509Certificates;
using Marketplace.Data.Hosting;
using Marketplace.Web.Infrastructure;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.IdentityModel.Tokens;
using OpenIddict.Server;

namespace Marketplace.Web.Accounts;

/// <summary>The OpenID Connect provider's settings ("Auth:Oidc").</summary>
public sealed class OidcSettings
{
    public const string Section = "Auth:Oidc";

    /// <summary>The issuer URL tokens name and clients discover from (e.g. https://market.example.cn/). Required.</summary>
    public string Issuer { get; set; } = "";

    /// <summary>PKCS#12 files with the keys that sign tokens and encrypt codes (outside Development, from secrets).</summary>
    public string? SigningCertificatePath { get; set; }

    public string? SigningCertificatePassword { get; set; }

    public string? EncryptionCertificatePath { get; set; }

    public string? EncryptionCertificatePassword { get; set; }

    /// <summary>Where the dashboards' sign-in returns to, besides the issuer's own /signed-in.html.</summary>
    public List<string> DashboardRedirectUris { get; set; } = [];

    public TimeSpan AccessTokenLifetime { get; set; } = TimeSpan.FromHours(1);

    public TimeSpan RefreshTokenLifetime { get; set; } = TimeSpan.FromDays(14);
}

/// <summary>An external authority (a government single sign-on) whose tokens the API also accepts ("Auth:External").</summary>
public sealed class ExternalAuthoritySettings
{
    public const string Section = "Auth:External";

    /// <summary>Its issuer, exactly as its tokens name it; empty: no external authority is trusted.</summary>
    public string Issuer { get; set; } = "";

    /// <summary>The audience its tokens must name for this marketplace.</summary>
    public string Audience { get; set; } = "";

    /// <summary>Its public keys as a JSON Web Key Set document.</summary>
    public string KeySet { get; set; } = "";

    public bool Enabled => Issuer.Length > 0;
}

/// <summary>Accounts (ASP.NET Core Identity) and the OpenID Connect provider (OpenIddict) of the web tier.</summary>
internal static class AccountsSetup
{
    /// <summary>The audience of the access tokens this provider issues for the API.</summary>
    public const string ApiAudience = "marketplace-api";

    /// <summary>The dashboards' public client (authorization code with PKCE).</summary>
    public const string DashboardClientId = "marketplace-dashboards";

    public const string ApiScope = Names.Auth.ApiScope;

    public const int MaxFailedSignIns = 5;

    public static readonly TimeSpan LockoutDuration = TimeSpan.FromMinutes(15);

    /// <summary>
    /// How long an authenticator code stays valid: Identity accepts the code of the current 30-second step and of two steps
    /// either side. A code accepted once is refused again for this long (<see cref="SignInAttempts.UseCodeAsync"/>).
    /// </summary>
    public static readonly TimeSpan CodeValidity = TimeSpan.FromSeconds(30 * 5);

    /// <param name="devTokens">The development tokens' settings where they are on (<see cref="AuthSettings.DevTokensOn"/>), else null: none is trusted.</param>
    public static TrustedIssuers AddMarketplaceAccounts(this WebApplicationBuilder builder, string connectionString, AuthSettings? devTokens)
    {
        var services = builder.Services;
        var oidc = StartupCheck.Bind<OidcSettings>(builder.Configuration, OidcSettings.Section);
        var external = StartupCheck.Bind<ExternalAuthoritySettings>(builder.Configuration, ExternalAuthoritySettings.Section);
        if (!Uri.TryCreate(oidc.Issuer, UriKind.Absolute, out var issuer) || issuer.Scheme is not ("https" or "http"))
        {
            throw new StartupException("Auth:Oidc:Issuer must be the absolute URL of this marketplace (the issuer of its tokens)", StartupCheck.BadSetting);
        }
        if (external.Enabled && (external.Audience.Length == 0 || external.KeySet.Length == 0))
        {
            throw new StartupException("Auth:External:Audience and Auth:External:KeySet must be set with Auth:External:Issuer", StartupCheck.BadSetting);
        }
        IList<SecurityKey> externalKeys = [];
        if (external.Enabled)
        {
            try
            {
                externalKeys = new JsonWebKeySet(external.KeySet).GetSigningKeys();
            }
            catch (ArgumentException e)
            {
                throw new StartupException($"Auth:External:KeySet is not a JSON Web Key Set ({e.Message})", StartupCheck.BadSetting);
            }
            if (externalKeys.Count == 0)
            {
                throw new StartupException("Auth:External:KeySet has no signing key", StartupCheck.BadSetting);
            }
        }
        services.AddSingleton(oidc);
        services.AddSingleton(external);

        services.AddDbContext<AccountsDbContext>(o => o.UseNpgsql(connectionString).UseOpenIddict());
        services.AddIdentityCore<MarketplaceUser>(o =>
            {
                o.User.RequireUniqueEmail = true;
                // Length, not composition, makes a password hard to guess (NIST SP 800-63B).
                o.Password.RequiredLength = 12;
                o.Password.RequireNonAlphanumeric = false;
                o.Password.RequireDigit = false;
                o.Password.RequireUppercase = false;
                o.Password.RequireLowercase = false;
                o.Lockout.AllowedForNewUsers = true;
                o.Lockout.MaxFailedAccessAttempts = MaxFailedSignIns;
                o.Lockout.DefaultLockoutTimeSpan = LockoutDuration;
                // Tokens carry their own claims; the ones Identity would add under its own names are not read.
                o.ClaimsIdentity.UserIdClaimType = Names.Claims.Subject;
                o.ClaimsIdentity.RoleClaimType = Names.Claims.Role;
            })
            .AddEntityFrameworkStores<AccountsDbContext>()
            .AddSignInManager()
            .AddDefaultTokenProviders();
        services.AddAuthentication().AddCookie(IdentityConstants.ApplicationScheme, o =>
        {
            o.LoginPath = SignInPage.Path;
            o.Cookie.Name = "marketplace.signin";
            o.Cookie.HttpOnly = true;
            o.Cookie.SameSite = SameSiteMode.Lax;
            // The sign-in session only serves the authorization endpoint: the API itself takes bearer tokens.
            o.ExpireTimeSpan = TimeSpan.FromHours(8);
            o.SlidingExpiration = false;
            // The session carries the account's security stamp; one that changed since (a role change, a lockout, a
            // second factor turned on elsewhere) ends it at its next request. Read at every request: the session serves only
            // the authorization endpoint and the second factor's page, so the read is rare, and a change applies at once
            // (Identity's own validator reads every 30 minutes, and renews the session when it does).
            o.Events.OnValidatePrincipal = EndSessionOfChangedAccount;
        }).AddCookie(IdentityConstants.TwoFactorUserIdScheme, o =>
        {
            // Between the right password and the second factor's code: who is signing in, for five minutes.
            o.Cookie.Name = "marketplace.two-factor";
            o.Cookie.HttpOnly = true;
            o.Cookie.SameSite = SameSiteMode.Strict;
            o.Cookie.Path = SignInPage.Path;
            o.ExpireTimeSpan = TimeSpan.FromMinutes(5);
            o.SlidingExpiration = false;
        });
        services.AddAntiforgery(o => o.Cookie.Name = "marketplace.antiforgery");
        services.AddSingleton<AccountStamps>();
        services.AddSingleton<AccountMail>();
        services.AddScoped<SignInAttempts>();
        services.AddScoped<TokenRefusalAudit>();

        services.AddOpenIddict()
            .AddCore(o => o.UseEntityFrameworkCore().UseDbContext<AccountsDbContext>())
            .AddServer(o =>
            {
                o.SetIssuer(issuer);
                o.SetAuthorizationEndpointUris("connect/authorize")
                    .SetTokenEndpointUris("connect/token")
                    .SetEndSessionEndpointUris("connect/endsession");
                // PKCE with S256 only: a "plain" challenge is the verifier itself, which anyone who sees the request has.
                o.Configure(server => server.CodeChallengeMethods.Remove(OpenIddict.Abstractions.OpenIddictConstants.CodeChallengeMethods.Plain));
                o.AllowAuthorizationCodeFlow().RequireProofKeyForCodeExchange()
                    .AllowClientCredentialsFlow()
                    .AllowRefreshTokenFlow();
                o.RegisterScopes(OpenIddict.Abstractions.OpenIddictConstants.Scopes.OpenId,
                    OpenIddict.Abstractions.OpenIddictConstants.Scopes.OfflineAccess, ApiScope);
                o.SetAccessTokenLifetime(oidc.AccessTokenLifetime).SetRefreshTokenLifetime(oidc.RefreshTokenLifetime);
                o.AddEventHandler(TokenRefusalAudit.Descriptor);
                // The API validates access tokens as plain signed JWTs (JwtBearer, with the key set at /.well-known/jwks).
                o.DisableAccessTokenEncryption();
                AddKeys(o, oidc, builder.Environment);
                var aspNetCore = o.UseAspNetCore()
                    .EnableAuthorizationEndpointPassthrough()
                    .EnableTokenEndpointPassthrough()
                    .EnableEndSessionEndpointPassthrough();
                if (builder.Environment.IsDevelopment())
                {
                    // run.sh and the tests serve plain HTTP on loopback; everywhere else the provider answers over HTTPS only.
                    aspNetCore.DisableTransportSecurityRequirement();
                }
            });
        services.AddHostedService<AccountSeeder>();
        services.AddScoped<AccountRegistration>();
        var trusted = new TrustedIssuers(devTokens, issuer.AbsoluteUri, external, externalKeys);
        services.AddSingleton(trusted);
        services.AddSingleton<Hubs.HubAccountCheck>();
        return trusted;
    }

    /// <summary>Refuses a sign-in session whose account is gone or whose security stamp is no longer the account's.</summary>
    private static async Task EndSessionOfChangedAccount(Microsoft.AspNetCore.Authentication.Cookies.CookieValidatePrincipalContext context)
    {
        var users = context.HttpContext.RequestServices.GetRequiredService<UserManager<MarketplaceUser>>();
        var id = context.Principal?.FindFirst(Names.Claims.Subject)?.Value;
        var stamp = context.Principal?.FindFirst(users.Options.ClaimsIdentity.SecurityStampClaimType)?.Value;
        var user = id is null ? null : await users.FindByIdAsync(id);
        if (user is null || stamp is null || stamp != user.SecurityStamp)
        {
            context.RejectPrincipal();
            await context.HttpContext.SignOutAsync(IdentityConstants.ApplicationScheme);
        }
    }

    private static void AddKeys(OpenIddictServerBuilder server, OidcSettings oidc, IWebHostEnvironment environment)
    {
        if (oidc.SigningCertificatePath is null && oidc.EncryptionCertificatePath is null && environment.IsDevelopment())
        {
            server.AddDevelopmentSigningCertificate().AddDevelopmentEncryptionCertificate();
            return;
        }
        if (oidc.SigningCertificatePath is null || oidc.EncryptionCertificatePath is null)
        {
            throw new StartupException(
                "Auth:Oidc:SigningCertificatePath and Auth:Oidc:EncryptionCertificatePath must name PKCS#12 files outside Development",
                StartupCheck.BadSetting);
        }
        server.AddSigningCertificate(Load(oidc.SigningCertificatePath, oidc.SigningCertificatePassword, "Auth:Oidc:SigningCertificatePath"))
            .AddEncryptionCertificate(Load(oidc.EncryptionCertificatePath, oidc.EncryptionCertificatePassword, "Auth:Oidc:EncryptionCertificatePath"));
    }

    private static X509Certificate2 Load(string path, string? password, string setting)
    {
        try
        {
            return X509CertificateLoader.LoadPkcs12FromFile(path, password, X509KeyStorageFlags.EphemeralKeySet);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
        {
            throw new StartupException($"{setting}: cannot load {path} ({e.Message})", StartupCheck.BadSetting);
        }
    }

}

/// <summary>
/// The issuers whose tokens the API accepts, each with the keys it signs with: development tokens (HMAC) where they are
/// on, this marketplace's OpenID Connect provider (its signing keys) and, if configured, an external authority (its key set).
/// </summary>
internal sealed class TrustedIssuers(AuthSettings? devTokens, string issuer, ExternalAuthoritySettings external, IList<SecurityKey> externalKeys)
{
    public IReadOnlyList<string> Issuers { get; } =
        [.. devTokens is null ? Array.Empty<string>() : [devTokens.Issuer], issuer, .. external.Enabled ? [external.Issuer] : Array.Empty<string>()];

    public IReadOnlyList<string> Audiences { get; } =
        [.. devTokens is null ? Array.Empty<string>() : [devTokens.Issuer], AccountsSetup.ApiAudience, .. external.Enabled ? [external.Audience] : Array.Empty<string>()];

    /// <summary>
    /// Why a token signed by a trusted issuer is still refused, or null. Each issuer must address it to its own audience
    /// (a token the external authority made for another service, or one naming this provider's audience, is not for the
    /// marketplace), and the external authority may not make anyone an admin: admins are the marketplace's own accounts.
    /// </summary>
    public string? Refusal(System.Security.Claims.ClaimsPrincipal user)
    {
        var tokenIssuer = user.FindFirst("iss")?.Value;
        var expected = devTokens is not null && tokenIssuer == devTokens.Issuer ? devTokens.Issuer
            : tokenIssuer == issuer ? AccountsSetup.ApiAudience
            : external.Enabled && tokenIssuer == external.Issuer ? external.Audience
            : null;
        if (expected is null || !user.FindAll("aud").Any(a => a.Value == expected))
        {
            return "the token is not addressed to the marketplace by its issuer";
        }
        return external.Enabled && tokenIssuer == external.Issuer && user.IsInRole(Names.Roles.Admin)
            ? "an external authority cannot grant the admin role"
            : null;
    }

    /// <summary>
    /// Whether a token speaks for one of the marketplace's accounts: one its own provider issued to a person (code or
    /// refresh), not to an API client (client credentials: the client is its subject). Only these carry the account's
    /// stamp (<see cref="AccountStamps"/>); development and external tokens name no account.
    /// </summary>
    public bool IsAccount(System.Security.Claims.ClaimsPrincipal user) =>
        user.FindFirst("iss")?.Value == issuer && user.FindFirst(Names.Claims.Subject)?.Value is { } subject
        && subject != user.FindFirst(OpenIddict.Abstractions.OpenIddictConstants.Claims.ClientId)?.Value;

    /// <summary>The keys that may sign a token naming this issuer: none for an issuer the marketplace does not trust.</summary>
    public IEnumerable<SecurityKey> KeysOf(string tokenIssuer, OpenIddictServerOptions server)
    {
        if (devTokens is not null && tokenIssuer == devTokens.Issuer)
        {
            return [devTokens.Key()];
        }
        if (tokenIssuer == issuer)
        {
            return server.SigningCredentials.Select(c => c.Key);
        }
        return external.Enabled && tokenIssuer == external.Issuer ? externalKeys : [];
    }
}
