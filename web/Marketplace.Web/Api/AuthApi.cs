using Marketplace.Web.Infrastructure;

namespace Marketplace.Web.Api;

public sealed record DevTokenRequest(string? Role, string? TenantId, string? ProviderId);

public sealed record DevTokenResponse(string Token, string Role, string? TenantId, string? ProviderId);

internal static class AuthApi
{
    /// <summary>Development only: a signed token for any role, so the dashboards, demo and tests can log in.</summary>
    public static RouteGroupBuilder MapAuthApi(this RouteGroupBuilder api, IWebHostEnvironment environment)
    {
        var settings = api.ServiceProvider().GetRequiredService<AuthSettings>();
        if (!environment.IsDevelopment() || !settings.DevTokens)
        {
            return api;
        }
        api.MapPost("/auth/dev-token", (DevTokenRequest request, TokenIssuer issuer) =>
        {
            var check = new Check();
            if (request.Role is null || !Names.Roles.All.Contains(request.Role))
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
        .WithSummary("Issue a development token for a role (Development only)");
        return api;
    }

    private static IServiceProvider ServiceProvider(this IEndpointRouteBuilder builder) => builder.ServiceProvider;
}
