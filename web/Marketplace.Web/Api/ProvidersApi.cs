using System.ComponentModel.DataAnnotations;
using Marketplace.Grains;
using Marketplace.Web.Infrastructure;
using Marketplace.Web.Queries;

namespace Marketplace.Web.Api;

/// <summary>A site and the GPUs installed there per model ("H800-80G": 512): the pools listed at the site never add up to more.</summary>
public sealed record SiteRequest([property: Required] string? SiteId, [property: Required] string? Name, [property: Required] string? Province,
    [property: Required] string? City, [property: Required] double? Latitude, [property: Required] double? Longitude,
    [property: Required] int? GreenPowerPercent, [property: Required] Dictionary<string, int>? InstalledGpus = null);

public sealed record ProviderRequest([property: Required] string? Name, [property: Required] string? CreditCode, [property: Required] List<SiteRequest>? Sites);

public sealed record PoolRequest(string? PoolId, [property: Required] string? SiteId, [property: Required] string? GpuModel, [property: Required] int? GpuCount,
    [property: Required] long? AskFenPerGpuHour);

public sealed record PoolPatchRequest(long? AskFenPerGpuHour, int? GpuCount);

/// <summary>An outage of one pool (a site id sent here is ignored: the pool names its site).</summary>
public sealed record OutageBody(string? OutageId, string? SiteId, [property: Required] DateTimeOffset? From, [property: Required] DateTimeOffset? To,
    [property: Required] string? Reason);

/// <summary>An outage of a whole site: every pool on it.</summary>
public sealed record SiteOutageBody(string? OutageId, [property: Required] string? SiteId, [property: Required] DateTimeOffset? From,
    [property: Required] DateTimeOffset? To, [property: Required] string? Reason);

internal static class ProvidersApi
{

    public static RouteGroupBuilder MapProvidersApi(this RouteGroupBuilder api)
    {
        var providers = api.MapGroup("/providers").WithTags("Providers and pools");

        providers.MapPost("/", async (ProviderRequest request, GrainCalls grains, HttpContext context) =>
        {
            var check = Check.Of(request).Name(request.Name, "name").CreditCodeOf(request.CreditCode, "creditCode");
            var sites = request.Sites ?? [];
            if (request.Sites is { Count: 0 or > 100 })
            {
                check.Add("sites", "list 1 to 100 sites");
            }
            for (var i = 0; i < sites.Count && i < 100; i++)
            {
                var s = sites[i];
                check.Id(s.SiteId, $"sites[{i}].siteId").Name(s.Name, $"sites[{i}].name").Province(s.Province, $"sites[{i}].province")
                    .Length(s.City, 1, 100, $"sites[{i}].city").Range(s.GreenPowerPercent, 0, 100, $"sites[{i}].greenPowerPercent");
                if (s.Latitude is not (>= 3 and <= 54))
                {
                    check.Add($"sites[{i}].latitude", "must be a latitude in China (3 to 54)");
                }
                if (s.Longitude is not (>= 73 and <= 136))
                {
                    check.Add($"sites[{i}].longitude", "must be a longitude in China (73 to 136)");
                }
                foreach (var (model, count) in s.InstalledGpus ?? [])
                {
                    check.GpuModel(model, $"sites[{i}].installedGpus").Range(count, 0, PoolRules.MaxInstalledGpusPerModel, $"sites[{i}].installedGpus.{model}");
                }
            }
            if (!check.Ok)
            {
                return check.Problem();
            }
            var registration = new ProviderRegistration(request.Name!, request.CreditCode!,
                sites.Select(s => new Site(s.SiteId!, s.Name!, s.Province!, s.City!, s.Latitude!.Value, s.Longitude!.Value, s.GreenPowerPercent!.Value)).ToList(),
                sites.SelectMany(s => s.InstalledGpus!.Select(m => new InstalledGpus(s.SiteId!, m.Key, m.Value))).ToList());
            var id = Caller.Of(context).Provider;
            var view = await grains.Run(c => c.GetGrain<IProviderGrain>(id).Register(registration));
            AuditMiddleware.Describe(context, CompaniesApi.AuditDetail(view.Status));
            return Results.Ok(view);
        })
        .RequireAuthorization(Names.Policies.Provider)
        .WithName("registerProvider")
        .WithSummary("Register (or update) the caller's provider, its sites and the GPUs installed at each")
        .Produces<ProviderView>();

        providers.MapGet("/me", async (GrainCalls grains, HttpContext context) =>
        {
            var id = Caller.Of(context).Provider;
            var view = await grains.Run(c => c.GetGrain<IProviderGrain>(id).Get());
            return view is null ? Problems.NotFound(context, "provider", id) : Results.Ok(view);
        })
        .RequireAuthorization(Names.Policies.Provider)
        .WithName("getMyProvider")
        .WithSummary("The caller's provider")
        .Produces<ProviderView>()
        .ProducesProblem(StatusCodes.Status404NotFound);

        providers.MapGet("/{id}/pools", async (string id, GrainCalls grains, HttpContext context) =>
        {
            if (!await SeesProviderAsync(context, grains, id))
            {
                return Problems.NotFound(context, "provider", id);
            }
            return Results.Ok(await grains.Run(c => c.GetGrain<IProviderGrain>(id).GetPools()));
        })
        .WithName("listPools")
        .WithSummary("A provider's pools with their capacity calendars (the provider, regulators and admins)")
        .Produces<IReadOnlyList<PoolView>>();

        providers.MapGet("/{id}/reliability", async (string id, GrainCalls grains, ReadModels read, MarketLimits limits, HttpContext context, CancellationToken ct) =>
        {
            if (!await SeesProviderAsync(context, grains, id))
            {
                return Problems.NotFound(context, "provider", id);
            }
            return Results.Ok(await read.ReliabilityAsync(id, limits, ct));
        })
        .WithName("getProviderReliability")
        .WithSummary("The provider's reliability: how much of what it sold in the window its outages took away, and its score (the provider, regulators and admins)")
        .Produces<ProviderReliability>();

        providers.MapGet("/{id}/reservations", async (string id, ReadModels read, HttpContext context, CancellationToken ct) =>
            Owns(context, id) ? Results.Ok(await read.ReservationsOfProviderAsync(id, 200, ct)) : Problems.NotFound(context, "provider", id))
            .RequireAuthorization(Names.Policies.Provider)
            .WithName("listProviderReservations")
            .WithSummary("The latest reservations on the provider's capacity")
            .Produces<IReadOnlyList<ReservationView>>();

        providers.MapPost("/{id}/pools", async (string id, PoolRequest request, GrainCalls grains, MarketLimits limits, HttpContext context) =>
        {
            if (!Owns(context, id))
            {
                return Problems.NotFound(context, "provider", id);
            }
            var check = Check.Of(request).Id(request.PoolId, "poolId", required: false).Id(request.SiteId, "siteId").GpuModel(request.GpuModel, "gpuModel")
                .Add(PoolRules.Validate(request.GpuCount, request.AskFenPerGpuHour, limits));
            if (!check.Ok)
            {
                return check.Problem();
            }
            var poolId = request.PoolId ?? Ids.Pool(id, VouchersApi.IdempotencyKeyOrNew(context));
            var listing = new PoolListing(poolId, request.SiteId!, request.GpuModel!, request.GpuCount!.Value, request.AskFenPerGpuHour!.Value);
            var view = await grains.Run(c => c.GetGrain<IProviderGrain>(id).ListPool(listing));
            return Results.Created($"/api/v1/providers/{id}/pools/{view.Id}", view);
        })
        .RequireAuthorization(Names.Policies.Provider)
        .WithMetadata(new IdempotentEndpoint())
        .WithName("createPool")
        .WithSummary("List a GPU pool on one of the provider's sites")
        .Produces<PoolView>(StatusCodes.Status201Created);

        providers.MapPatch("/{id}/pools/{poolId}", async (string id, string poolId, PoolPatchRequest request, GrainCalls grains, MarketLimits limits, HttpContext context) =>
        {
            if (!Owns(context, id))
            {
                return Problems.NotFound(context, "provider", id);
            }
            if (!await OwnsPool(id, poolId, grains))
            {
                return Problems.NotFound(context, "pool", poolId);
            }
            var check = Check.Of(request).Add(PoolRules.Validate(request.GpuCount, request.AskFenPerGpuHour, limits, required: false));
            if (request.AskFenPerGpuHour is null && request.GpuCount is null)
            {
                check.Add("askFenPerGpuHour", "give a new ask, a new GPU count, or both");
            }
            var ifMatch = context.Request.Headers.IfMatch.ToString();
            long? expected = null;
            if (ifMatch.Length > 0)
            {
                if (long.TryParse(ifMatch.Replace("W/", "").Trim('"', ' '), out var version))
                {
                    expected = version;
                }
                else
                {
                    check.Add("If-Match", "give the pool's version as read, e.g. \"12\"");
                }
            }
            if (!check.Ok)
            {
                return check.Problem();
            }
            var view = await grains.Run(c => c.GetGrain<IProviderGrain>(id).ChangePool(poolId, new PoolChange(request.AskFenPerGpuHour, request.GpuCount, expected)));
            context.Response.Headers.ETag = $"\"{view.Version}\"";
            return Results.Ok(view);
        })
        .RequireAuthorization(Names.Policies.Provider)
        .WithName("updatePool")
        .WithSummary("Change a pool's ask price or GPU count; with If-Match (the pool's version as read), a pool changed since is refused with 412")
        .Produces<PoolView>()
        .ProducesProblem(StatusCodes.Status412PreconditionFailed);

        providers.MapPost("/{id}/pools/{poolId}/outages", (string id, string poolId, OutageBody request, GrainCalls grains, HttpContext context,
                MarketLimits limits, [FromKeyedServices(Names.ClockKeys.Market)] TimeProvider clock) =>
            DeclareOutage(id, poolId, Check.Of(request), request with { SiteId = null }, grains, context, clock.GetUtcNow(), limits.BookingHorizonDays))
            .RequireAuthorization(Names.Policies.Provider)
            .WithName("declarePoolOutage")
            .WithSummary("Declare an outage of one pool: its reservations are interrupted and re-matched elsewhere")
            .Produces<OutageReport>();

        providers.MapPost("/{id}/outages", (string id, SiteOutageBody request, GrainCalls grains, HttpContext context, MarketLimits limits,
                [FromKeyedServices(Names.ClockKeys.Market)] TimeProvider clock) =>
            DeclareOutage(id, null, Check.Of(request), new OutageBody(request.OutageId, request.SiteId, request.From, request.To, request.Reason), grains, context, clock.GetUtcNow(), limits.BookingHorizonDays))
            .RequireAuthorization(Names.Policies.Provider)
            .WithName("declareSiteOutage")
            .WithSummary("Declare an outage of a whole site (every pool on it)")
            .Produces<OutageReport>();
        providers.MapPost("/{id}/outages/{outageId}/end", async (string id, string outageId, GrainCalls grains, HttpContext context) =>
            Owns(context, id)
                ? Results.Ok(await grains.Run(c => c.GetGrain<IProviderGrain>(id).EndOutage(outageId)))
                : Problems.NotFound(context, "provider", id))
            .RequireAuthorization(Names.Policies.Provider)
            .WithName("endOutage")
            .WithSummary("End a declared outage now (one not yet begun is cancelled): its hours become sellable again")
            .Produces<OutageEnded>();
        return api;
    }

    private static bool Owns(HttpContext context, string providerId) => Caller.Of(context).ProviderId == providerId;

    /// <summary>The provider itself, a regulator or an admin may see a provider that exists; anyone else gets a 404.</summary>
    internal static async Task<bool> SeesProviderAsync(HttpContext context, GrainCalls grains, string providerId)
    {
        var caller = Caller.Of(context);
        return (caller.IsOversight || caller.ProviderId == providerId)
            && await grains.Run(c => c.GetGrain<IProviderGrain>(providerId).Get()) is not null;
    }

    /// <summary>
    /// Checked here, not only by the provider grain (which knows its own pools only), so that reaching for another
    /// provider's pool is recorded as a refused authorization like any other.
    /// </summary>
    private static async Task<bool> OwnsPool(string providerId, string poolId, GrainCalls grains) =>
        await grains.Run(c => c.GetGrain<IGpuPoolGrain>(poolId).Get()) is { } pool && pool.ProviderId == providerId;

    private static async Task<IResult> DeclareOutage(string id, string? poolId, Check check, OutageBody request, GrainCalls grains, HttpContext context,
        DateTimeOffset now, int horizonDays)
    {
        if (!Owns(context, id))
        {
            return Problems.NotFound(context, "provider", id);
        }
        if (poolId is not null && !await OwnsPool(id, poolId, grains))
        {
            return Problems.NotFound(context, "pool", poolId);
        }
        check.Id(request.OutageId, "outageId", required: false).Length(request.Reason, 1, 500, "reason").Id(request.SiteId, "siteId", required: false);
        if (request.From >= request.To)
        {
            check.Add("to", "must be after from");
        }
        if (request.To - request.From > TimeSpan.FromDays(60))
        {
            check.Add("to", "an outage is declared for at most 60 days at a time");
        }
        // Outages change what can be booked: one that is over, or starts beyond the horizon, changes nothing and would only
        // pile up in the pool's state. One that began a while ago and still lasts is fine (it interrupts what runs now).
        if (request.To <= now)
        {
            check.Add("to", "must be in the future");
        }
        if (request.From > now.AddDays(horizonDays))
        {
            check.Add("from", $"must be within the {horizonDays}-day booking horizon");
        }
        if (!check.Ok)
        {
            return check.Problem();
        }
        var outage = new Outage(request.OutageId ?? $"o-{Guid.NewGuid():N}"[..14], request.From!.Value.ToUniversalTime(), request.To!.Value.ToUniversalTime(), request.Reason!);
        return Results.Ok(await grains.Run(c => c.GetGrain<IProviderGrain>(id).DeclareOutage(new OutageRequest(poolId, request.SiteId, outage))));
    }
}
