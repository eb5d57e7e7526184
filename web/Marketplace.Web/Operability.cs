using System.Diagnostics.Metrics;
using Marketplace.Web.Infrastructure;
using Marketplace.Data.Hosting;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using Orleans.Dashboard;

namespace Marketplace.Web;

/// <summary>What operators use: Prometheus metrics at /metrics and the Orleans dashboard at /dashboard (admins only).</summary>
public static class Operability
{
    public const string DashboardPath = "/dashboard";
    public const string SessionCookie = "marketplace_session";
    public const string MeterName = "Marketplace.Web";

    private static readonly Meter Meter = new(MeterName);

    private static readonly string[] UntracedPaths = ["/healthz", "/readyz", "/metrics"];

    /// <summary>Time from a change in a grain to its push leaving this web node.</summary>
    public static readonly Histogram<double> PushLag = Meter.CreateHistogram<double>("marketplace.push.lag", "ms",
        "Time from a change in the cluster to its push to SignalR clients");

    public static WebApplicationBuilder AddOperability(this WebApplicationBuilder builder)
    {
        builder.Services.AddMarketplaceTelemetry(builder.Configuration, "marketplace-web")
            // Probes and scrapes every few seconds would outnumber the requests worth tracing.
            .WithTracing(tracing => tracing.AddAspNetCoreInstrumentation(o => o.Filter = c => !UntracedPaths.Any(p => c.Request.Path.StartsWithSegments(p))))
            .WithMetrics(metrics => metrics
                .AddMeter(MeterName, "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel", "Microsoft.Orleans")
                .AddPrometheusExporter());
        return builder;
    }

    public static WebApplication MapOperability(this WebApplication app)
    {
        app.MapPrometheusScrapingEndpoint();
        app.MapOrleansDashboard(routePrefix: DashboardPath).RequireAuthorization(Names.Policies.Admin);

        // Browsers cannot send a bearer token when they open a page: an admin trades the token for a cookie that
        // only the dashboard's paths receive.
        app.MapPost("/api/v1/auth/session", (HttpContext context, AuthSettings settings) =>
        {
            var token = context.Request.Headers.Authorization.ToString()["Bearer ".Length..];
            context.Response.Cookies.Append(SessionCookie, token, new CookieOptions
            {
                HttpOnly = true,
                SameSite = SameSiteMode.Strict,
                Secure = context.Request.IsHttps,
                Path = DashboardPath,
                MaxAge = settings.TokenLifetime,
            });
            return Results.NoContent();
        })
        .RequireAuthorization(Names.Policies.Admin)
        .WithTags("Auth")
        .WithName("openDashboardSession")
        .WithSummary("Open a dashboard session: stores the admin's token in a cookie only the Orleans dashboard receives")
        .Produces(StatusCodes.Status204NoContent);
        return app;
    }

    /// <summary>The bearer token of a dashboard request, from the session cookie.</summary>
    public static string? DashboardToken(HttpRequest request) =>
        request.Path.StartsWithSegments(DashboardPath) && request.Cookies.TryGetValue(SessionCookie, out var token) ? token : null;
}
