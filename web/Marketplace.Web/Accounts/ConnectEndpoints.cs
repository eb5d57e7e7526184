using System.Security.Claims;
using Microsoft.AspNetCore;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Identity;
using Microsoft.IdentityModel.Tokens;
using OpenIddict.Abstractions;
using OpenIddict.Server.AspNetCore;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace Marketplace.Web.Accounts;

/// <summary>Who a token speaks for: a subject, one role and the organisation it acts for.</summary>
internal sealed record Organisation(string Role, string? TenantId, string? ProviderId)
{
    public static Organisation Of(MarketplaceUser user) => new(user.Role, user.TenantId, user.ProviderId);

    /// <summary>An account's principal: its organisation, and the digest of its security stamp, which the API checks (<see cref="AccountStamps"/>).</summary>
    public static ClaimsPrincipal PrincipalOf(MarketplaceUser user, IEnumerable<string> scopes) =>
        Of(user).Principal(user.Id, scopes, AccountStamps.Digest(user.SecurityStamp));

    /// <summary>
    /// The principal OpenIddict turns into tokens; every claim goes into the access and identity tokens, but the stamp's
    /// digest, which only the API reads.
    /// </summary>
    public ClaimsPrincipal Principal(string subject, IEnumerable<string> scopes, string? stampDigest = null)
    {
        var identity = new ClaimsIdentity(TokenValidationParameters.DefaultAuthenticationType, Names.Claims.Subject, Names.Claims.Role);
        identity.SetClaim(Names.Claims.Subject, subject)
            .SetClaim(Names.Claims.Role, Role)
            .SetClaim(Names.Claims.TenantId, TenantId)
            .SetClaim(Names.Claims.ProviderId, ProviderId);
        if (stampDigest is not null)
        {
            identity.SetClaim(AccountStamps.Claim, stampDigest);
        }
        identity.SetScopes(scopes);
        identity.SetResources(AccountsSetup.ApiAudience);
        identity.SetDestinations(claim => claim.Type == AccountStamps.Claim ? [Destinations.AccessToken] : [Destinations.AccessToken, Destinations.IdentityToken]);
        return new ClaimsPrincipal(identity);
    }
}

/// <summary>
/// The OpenID Connect provider's endpoints that need the marketplace's say (OpenIddict validates the requests first):
/// authorization (code with PKCE, for a signed-in user), token (client credentials, code, refresh) and end session.
/// </summary>
internal static class ConnectEndpoints
{
    public static WebApplication MapConnect(this WebApplication app)
    {
        app.MapMethods("/connect/authorize", [HttpMethods.Get, HttpMethods.Post], Authorize).ExcludeFromDescription();
        app.MapPost("/connect/token", Token).ExcludeFromDescription();
        app.MapMethods("/connect/endsession", [HttpMethods.Get, HttpMethods.Post], (Delegate)EndSession).ExcludeFromDescription();
        return app;
    }

    private static async Task<IResult> Authorize(HttpContext context, UserManager<MarketplaceUser> users)
    {
        var request = context.GetOpenIddictServerRequest() ?? throw new InvalidOperationException("not an OpenID Connect request");
        var session = await context.AuthenticateAsync(IdentityConstants.ApplicationScheme);
        var user = session.Succeeded ? await users.GetUserAsync(session.Principal) : null;
        if (user is null || await users.IsLockedOutAsync(user))
        {
            if (request.HasPromptValue(PromptValues.None))
            {
                return Refuse(Errors.LoginRequired, "the user is not signed in");
            }
            // To the sign-in page, which comes back here with the same request.
            var query = context.Request.HasFormContentType ? QueryString.Create(context.Request.Form) : context.Request.QueryString;
            return Results.Challenge(new AuthenticationProperties { RedirectUri = context.Request.PathBase + context.Request.Path + query },
                [IdentityConstants.ApplicationScheme]);
        }
        return Results.SignIn(Organisation.PrincipalOf(user, request.GetScopes()), authenticationScheme: OpenIddictServerAspNetCoreDefaults.AuthenticationScheme);
    }

    private static async Task<IResult> Token(HttpContext context, UserManager<MarketplaceUser> users, IOpenIddictApplicationManager applications)
    {
        var request = context.GetOpenIddictServerRequest() ?? throw new InvalidOperationException("not an OpenID Connect request");
        if (request.IsClientCredentialsGrantType())
        {
            // OpenIddict has authenticated the client; what it may act as is the organisation it was registered for.
            var application = await applications.FindByClientIdAsync(request.ClientId!, context.RequestAborted);
            var organisation = application is null ? null : await ApiClients.OrganisationOfAsync(applications, application, context.RequestAborted);
            if (organisation is null)
            {
                return Refuse(Errors.InvalidClient, "the client acts for no organisation");
            }
            return Results.SignIn(organisation.Principal(request.ClientId!, request.GetScopes()), authenticationScheme: OpenIddictServerAspNetCoreDefaults.AuthenticationScheme);
        }
        if (request.IsAuthorizationCodeGrantType() || request.IsRefreshTokenGrantType())
        {
            // The code or refresh token names the user and carries the digest of the stamp it was issued under. A new stamp
            // (a role change, a lockout, a second factor turned on) ends the grant: the person signs in again, so a stolen
            // refresh token does not outlive what the account's owner or an admin did about it.
            var granted = await context.AuthenticateAsync(OpenIddictServerAspNetCoreDefaults.AuthenticationScheme);
            var subject = granted.Principal?.GetClaim(Names.Claims.Subject);
            var user = subject is null ? null : await users.FindByIdAsync(subject);
            if (user is null || await users.IsLockedOutAsync(user)
                || granted.Principal!.GetClaim(AccountStamps.Claim) != AccountStamps.Digest(user.SecurityStamp))
            {
                TokenRefusalAudit.Name(context, subject);
                return Refuse(Errors.InvalidGrant, "the account was changed, locked or removed after the grant was issued");
            }
            return Results.SignIn(Organisation.PrincipalOf(user, granted.Principal!.GetScopes()),
                authenticationScheme: OpenIddictServerAspNetCoreDefaults.AuthenticationScheme);
        }
        return Refuse(Errors.UnsupportedGrantType, "this grant type is not served");
    }

    private static async Task<IResult> EndSession(HttpContext context)
    {
        await context.SignOutAsync(IdentityConstants.ApplicationScheme);
        // OpenIddict redirects to the client's post-logout address if the request named a registered one.
        return Results.SignOut(new AuthenticationProperties { RedirectUri = "/" }, [OpenIddictServerAspNetCoreDefaults.AuthenticationScheme]);
    }

    private static IResult Refuse(string error, string description) => Results.Forbid(
        new AuthenticationProperties(new Dictionary<string, string?>
        {
            [OpenIddictServerAspNetCoreConstants.Properties.Error] = error,
            [OpenIddictServerAspNetCoreConstants.Properties.ErrorDescription] = description,
        }),
        [OpenIddictServerAspNetCoreDefaults.AuthenticationScheme]);
}
