using System.ComponentModel.DataAnnotations;
using System.Net;
using Marketplace.Web.Infrastructure;

namespace Marketplace.Web.Api;

public sealed record DevTokenRequest([property: Required] string? Role, string? TenantId, string? ProviderId);

public sealed record DevTokenResponse(string Token, string Role, string? TenantId, string? ProviderId);

internal static class AuthApi
{
    /// <summary>Development only, loopback callers only: a signed token for any role, so the demo, tests and the load tool can log in.</summary>
    public static RouteGroupBuilder MapAuthApi(this RouteGroupBuilder api, IWebHostEnvironment environment)
    {
        var settings = api.ServiceProvider().GetRequiredService<AuthSettings>();
        if (!settings.DevTokensOn(environment))
        {
            return api;
        }
        api.MapPost("/auth/dev-token", (DevTokenRequest request, TokenIssuer issuer, HttpContext context) =>
        {
            // Only for tests and the load tool on the same machine: a development server reachable from elsewhere still
            // hands no one a token of any role.
            if (context.Connection.RemoteIpAddress is not { } address || !IPAddress.IsLoopback(address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address))
            {
                return Problems.Of(StatusCodes.Status403Forbidden, "dev-token-loopback-only", "Development tokens are issued to loopback callers only");
            }
            var check = Check.Of(request);
            if (request.Role is not null && !Names.Roles.All.Contains(request.Role))
            {
                check.Add("role", $"must be one of {string.Join(", ", Names.Roles.All)}");
            }
            check.Id(request.TenantId, "tenantId", required: false).Id(request.ProviderId, "providerId", required: false);
            if (!check.Ok)
            {
                return check.Problem();
            }
            var role = request.Role!;
            var tenant = role == Names.Roles.Sme ? request.TenantId ?? $"t-{Guid.NewGuid():N}"[..14] : null;
            var provider = role == Names.Roles.Provider ? request.ProviderId ?? $"x-{Guid.NewGuid():N}"[..14] : null;
            return Results.Ok(new DevTokenResponse(issuer.Issue(role, tenant, provider), role, tenant, provider));
        })
        .AllowAnonymous()
        .WithTags("Auth")
        .WithName("issueDevToken")
        .WithSummary("Issue a development token for a role (Development only)")
        .Produces<DevTokenResponse>();
        return api;
    }

    private static IServiceProvider ServiceProvider(this IEndpointRouteBuilder builder) => builder.ServiceProvider;
}
