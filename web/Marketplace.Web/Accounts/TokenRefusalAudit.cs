using Marketplace.Web.Infrastructure;
using Microsoft.AspNetCore;
using OpenIddict.Abstractions;
using OpenIddict.Server;
using OpenIddict.Server.AspNetCore;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace Marketplace.Web.Accounts;

/// <summary>
/// Puts the token endpoint's refusals on the audit trail: a wrong secret, an unknown client, a bad code or refresh token
/// (refused by OpenIddict before the marketplace's endpoint runs) and the accounts that endpoint refuses. They are counted
/// as every other refused request is (<see cref="AuditLog.Refuse"/>: per caller, action, status and minute, with the
/// address, user agent and trace id of the first), so that an anonymous flood costs a row a minute, not a row each.
/// Who: the account refused, else the client the request named if it is registered, else "unknown-client" (a client id
/// made up on each try would otherwise make a row each) or "anonymous" when it named none.
/// </summary>
internal sealed class TokenRefusalAudit(AuditLog audit, IOpenIddictApplicationManager applications,
    [FromKeyedServices(Names.ClockKeys.Market)] TimeProvider clock) : IOpenIddictServerHandler<OpenIddictServerEvents.ApplyTokenResponseContext>
{
    private const string SubjectKey = "audit:token-subject";

    private static readonly string[] Grants = [GrantTypes.AuthorizationCode, GrantTypes.ClientCredentials, GrantTypes.RefreshToken];

    /// <summary>After the response's status is set, before it is written.</summary>
    public static OpenIddictServerHandlerDescriptor Descriptor { get; } = OpenIddictServerHandlerDescriptor
        .CreateBuilder<OpenIddictServerEvents.ApplyTokenResponseContext>()
        .UseScopedHandler<TokenRefusalAudit>()
        .SetOrder(OpenIddictServerAspNetCoreHandlers.AttachHttpResponseCode<OpenIddictServerEvents.ApplyTokenResponseContext>.Descriptor.Order + 1)
        .SetType(OpenIddictServerHandlerType.Custom)
        .Build();

    /// <summary>Names the account the token endpoint refused, for the trail.</summary>
    public static void Name(HttpContext context, string? subject)
    {
        if (subject is not null)
        {
            context.Items[SubjectKey] = subject;
        }
    }

    public async ValueTask HandleAsync(OpenIddictServerEvents.ApplyTokenResponseContext context)
    {
        if (context.Error is null || context.Transaction.GetHttpRequest()?.HttpContext is not { } http)
        {
            return;
        }
        var request = context.Request;
        var grant = request?.GrantType is { } named && Grants.Contains(named) ? named : null;
        var subject = http.Items.TryGetValue(SubjectKey, out var refused) && refused is string account ? account
            : request?.ClientId is not { Length: > 0 } client ? "anonymous"
            : client.Length <= 100 && await applications.FindByClientIdAsync(client, http.RequestAborted) is not null ? client
            : "unknown-client";
        var action = grant is null ? "POST /connect/token" : $"POST /connect/token grant_type={grant}";
        var example = $"{grant ?? Check.Trim(request?.GrantType ?? "no grant_type")} {context.Error} client {Check.Trim(request?.ClientId ?? "none")}: {context.Response.ErrorDescription}";
        audit.Refuse(new Refusal(clock.GetUtcNow(), subject, RateLimits.CallerKey(http), "none", action, http.Response.StatusCode, example,
            RequestOrigin.Of(http)));
    }
}
