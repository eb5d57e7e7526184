using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.SignalR;

namespace Marketplace.Web.Infrastructure;

/// <summary>How much each caller may ask of the web tier ("RateLimiting" section).</summary>
public sealed class RateLimitSettings
{
    public const string Section = "RateLimiting";

    /// <summary>Requests a second each caller's bucket refills by, on the API and, apart, on everything else.</summary>
    [Range(1, 1_000_000)]
    public int PermitsPerSecond { get; set; } = 200;

    /// <summary>Requests a caller may send at once before the refill rate applies.</summary>
    [Range(1, 1_000_000)]
    public int Burst { get; set; } = 400;

    /// <summary>Hub method calls (Join, Snapshot) a second per connection, after a burst of <see cref="HubCallBurst"/>.</summary>
    [Range(1, 10_000)]
    public int HubCallsPerSecond { get; set; } = 5;

    [Range(1, 10_000)]
    public int HubCallBurst { get; set; } = 20;
}

/// <summary>Rate limits on every path the web tier serves, and on the hub's methods per connection.</summary>
internal static class RateLimits
{
    public static IServiceCollection AddMarketplaceRateLimits(this IServiceCollection services, RateLimitSettings settings)
    {
        services.AddSingleton(settings);
        services.AddRateLimiter(o =>
        {
            o.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            o.OnRejected = async (context, cancellationToken) =>
            {
                var retryAfter = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds)) : 1;
                context.HttpContext.Response.Headers.RetryAfter = retryAfter.ToString(CultureInfo.InvariantCulture);
                await Problems.Of(429, "rate-limited", "Too many requests", $"retry after {retryAfter} s").ExecuteAsync(context.HttpContext);
            };
            // One bucket per tenant (or provider, or signed-in user): a busy tenant cannot starve the others. The kind is part
            // of the key, so a provider and a tenant that happen to share an id do not share a bucket. Anonymous callers get
            // a bucket per address: what they are refused is audited, and neither that nor the hub's negotiation, the health
            // checks or the pages may be had for free. The API and everything else have a bucket each, so loading a page
            // does not spend what its calls to the API need.
            o.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(context =>
            {
                var area = context.Request.Path.StartsWithSegments("/api") ? "api" : "web";
                return RateLimitPartition.GetTokenBucketLimiter($"{area}:{CallerKey(context)}", _ => Bucket(settings.Burst, settings.PermitsPerSecond));
            });
        });
        services.AddSingleton<HubCallLimit>();
        return services;
    }

    /// <summary>Whose bucket a request draws on.</summary>
    public static string CallerKey(HttpContext context)
    {
        var caller = Caller.Of(context);
        return caller.TenantId is { } tenant ? $"tenant:{tenant}"
            : caller.ProviderId is { } provider ? $"provider:{provider}"
            : context.User.Identity?.IsAuthenticated == true ? $"user:{caller.Subject}"
            : $"address:{context.Connection.RemoteIpAddress}";
    }

    public static TokenBucketRateLimiterOptions Bucket(int burst, int perSecond) => new()
    {
        TokenLimit = burst,
        TokensPerPeriod = perSecond,
        ReplenishmentPeriod = TimeSpan.FromSeconds(1),
        QueueLimit = 0,
        AutoReplenishment = true,
    };
}

/// <summary>
/// Hub method calls per connection: a connection is one HTTP request, so the request limits do not see what is sent over
/// it, and a regulator's Snapshot reads the whole market. Past the burst a call is refused (the connection stays).
/// </summary>
internal sealed class HubCallLimit(RateLimitSettings settings) : IHubFilter, IDisposable
{
    // Idle partitions (closed connections) are disposed by the limiter itself.
    private readonly PartitionedRateLimiter<string> _limiter = PartitionedRateLimiter.Create<string, string>(connection =>
        RateLimitPartition.GetTokenBucketLimiter(connection, _ => RateLimits.Bucket(settings.HubCallBurst, settings.HubCallsPerSecond)));

    public async ValueTask<object?> InvokeMethodAsync(HubInvocationContext invocationContext, Func<HubInvocationContext, ValueTask<object?>> next)
    {
        using var lease = _limiter.AttemptAcquire(invocationContext.Context.ConnectionId);
        if (!lease.IsAcquired)
        {
            throw new HubException("too many calls on this connection; slow down");
        }
        return await next(invocationContext);
    }

    public void Dispose() => _limiter.Dispose();
}
