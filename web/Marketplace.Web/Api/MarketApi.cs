using System.ComponentModel.DataAnnotations;
using Marketplace.Grains;
using Marketplace.Data;
using Marketplace.Web.Infrastructure;

namespace Marketplace.Web.Api;

/// <summary>
/// A bid on one GPU model (gpuModel, gpuCount, maxFenPerGpuHour and timeInForce are then needed too), or a compute bid in
/// PFLOPS-hours across models (pflopsHours and maxFenPerPflopsHour).
/// </summary>
public sealed record BidBody(
    string? GpuModel,
    int? GpuCount,
    [property: Required] int? DurationHours,
    [property: Required] DateTimeOffset? EarliestStart,
    [property: Required] DateTimeOffset? LatestStart,
    long? MaxFenPerGpuHour,
    List<string>? AllowedProvinces,
    string? VoucherId,
    string? TimeInForce,
    DateTimeOffset? GoodUntil,
    string? ClientOrderId,
    long? PflopsHours = null,
    int? MinMemoryGb = null,
    long? MaxFenPerPflopsHour = null,
    List<string>? Vendors = null,
    List<string>? GpuModels = null,
    int? MinReliabilityBasisPoints = null);

internal static class MarketApi
{
    public static RouteGroupBuilder MapMarketApi(this RouteGroupBuilder api)
    {
        var market = api.MapGroup("/").WithTags("Market");

        market.MapPost("/bids", async (BidBody body, GrainCalls grains, MarketLimits limits, HttpContext context,
            [FromKeyedServices(Names.ClockKeys.Market)] TimeProvider clock) =>
        {
            var key = context.Request.Headers[Names.Headers.IdempotencyKey].ToString() is { Length: > 0 } header ? header : body.ClientOrderId;
            var check = Check.Of(body);
            if (string.IsNullOrEmpty(key))
            {
                check.Add("clientOrderId", "send an Idempotency-Key header or a clientOrderId, so a retried bid is never placed twice");
            }
            else
            {
                check.Length(key, 1, 100, "clientOrderId");
            }
            if (AsksForCompute(body))
            {
                var compute = ValidateCompute(body, check, clock.GetUtcNow(), limits, out var rests);
                if (!check.Ok)
                {
                    return check.Problem();
                }
                var buyer = Caller.Of(context).Tenant;
                if (await ForeignVoucher(compute!.VoucherId, buyer, grains, context) is { } foreign)
                {
                    return foreign;
                }
                CompanyVerification.Require((await grains.Run(c => c.GetGrain<ITenantGrain>(buyer).Get()))?.Status, $"tenant '{buyer}'", "bid");
                var placed = rests
                    ? await grains.Run(c => c.GetGrain<IComputeBidGrain>(Ids.RestingComputeBid(buyer, key!)).Place(buyer, compute!))
                    : await grains.Run(c => c.GetGrain<IComputeRouterGrain>(0).PlaceBid(buyer, key!, compute!));
                return Results.Created($"/api/v1/bids/{placed.Id}", placed);
            }
            var order = Validate(body, check, clock.GetUtcNow(), limits);
            if (!check.Ok)
            {
                return check.Problem();
            }
            var tenant = Caller.Of(context).Tenant;
            if (await ForeignVoucher(order!.VoucherId, tenant, grains, context) is { } refused)
            {
                return refused;
            }
            // The market takes bids of verified companies only (it trades for them; it does not know who they are).
            CompanyVerification.Require((await grains.Run(c => c.GetGrain<ITenantGrain>(tenant).Get()))?.Status, $"tenant '{tenant}'", "bid");
            var submission = new BidSubmission(Ids.Bid(tenant, key!), tenant, order!, Ids.ContentHash(StateJson.Serialize(order)));
            var bid = await grains.Run(c => c.GetGrain<IMarketGrain>(order!.GpuModel).PlaceBid(submission));
            return Results.Created($"/api/v1/bids/{bid.Id}", bid);
        })
        .RequireAuthorization(Names.Policies.Sme)
        .WithMetadata(new IdempotentEndpoint(), new NotAudited())
        .WithName("placeBid")
        .WithSummary("Place a bid for GPU time; it fills at once, rests (GTC) or is rejected with a reason")
        .Produces<BidView>(StatusCodes.Status201Created);

        market.MapPost("/quotes", async (BidBody body, GrainCalls grains, MarketLimits limits, HttpContext context,
            [FromKeyedServices(Names.ClockKeys.Market)] TimeProvider clock) =>
        {
            var check = Check.Of(body);
            if (AsksForCompute(body))
            {
                var compute = ValidateCompute(body with { TimeInForce = body.TimeInForce ?? "IOC" }, check, clock.GetUtcNow(), limits, out _);
                if (!check.Ok)
                {
                    return check.Problem();
                }
                var buyer = Caller.Of(context).Tenant;
                if (await ForeignVoucher(compute!.VoucherId, buyer, grains, context) is { } foreign)
                {
                    return foreign;
                }
                var models = await grains.Run(c => c.GetGrain<IComputeRouterGrain>(0).Quote(buyer, compute!));
                // The best model's quote, with every qualifying model's beside it.
                return Results.Ok((models.Count > 0 && models[0].Quote.Available ? models[0].Quote
                    : new Quote(false, null, null, null, null, null, null, 0, 0, 0, "no-compute-offer", "no market offers this compute now")) with { Models = models });
            }
            var order = Validate(body with { TimeInForce = body.TimeInForce ?? "IOC" }, check, clock.GetUtcNow(), limits);
            if (!check.Ok)
            {
                return check.Problem();
            }
            var tenant = Caller.Of(context).Tenant;
            if (await ForeignVoucher(order!.VoucherId, tenant, grains, context) is { } refused)
            {
                return refused;
            }
            return Results.Ok(await grains.Run(c => c.GetGrain<IMarketGrain>(order!.GpuModel).Quote(tenant, order!)));
        })
        .RequireAuthorization(Names.Policies.Sme)
        .WithMetadata(new NotAudited())
        .WithName("quoteBid")
        .WithSummary("What a bid would get right now (pool, start, price, voucher and cash share), without committing")
        .Produces<Quote>();

        market.MapGet("/bids/{id}", async (string id, GrainCalls grains, HttpContext context) =>
            await OwnBid(id, grains, context) is { } bid ? Results.Ok(bid) : Problems.NotFound(context, "bid", id))
            .RequireAuthorization(Names.Policies.Sme)
            .WithName("getBid")
            .WithSummary("A bid with its state, reason and fills")
            .Produces<BidView>();

        market.MapDelete("/bids/{id}", async (string id, GrainCalls grains, HttpContext context) =>
        {
            if (await OwnBid(id, grains, context) is not { } bid)
            {
                return Problems.NotFound(context, "bid", id);
            }
            var tenant = Caller.Of(context).Tenant;
            return Results.Ok(bid.ComputeOrder is not null
                ? await grains.Run(c => c.GetGrain<IComputeBidGrain>(id).Cancel(tenant))
                : await grains.Run(c => c.GetGrain<IMarketGrain>(bid.Order.GpuModel).CancelBid(id, tenant)));
        })
        .RequireAuthorization(Names.Policies.Sme)
        .WithName("cancelBid")
        .WithSummary("Cancel a resting bid")
        .Produces<BidView>();

        market.MapGet("/markets", () => Results.Ok(GpuModels.Known))
            .WithName("listMarkets")
            .WithSummary("The GPU models traded")
            .Produces<IReadOnlyList<string>>();

        market.MapGet("/accelerators", () => Results.Ok(Accelerators.All))
            .WithName("listAccelerators")
            .WithSummary("The accelerator catalogue: vendor, memory and dense TFLOPS of every traded model, with unpublished figures null")
            .Produces<IReadOnlyList<Accelerator>>();

        market.MapGet("/markets/{gpuModel}/book", async (string gpuModel, GrainCalls grains) =>
        {
            var check = new Check().GpuModel(gpuModel, "gpuModel");
            return check.Ok ? Results.Ok(await grains.Run(c => c.GetGrain<IMarketGrain>(gpuModel).GetBook())) : check.Problem();
        })
        .WithName("getOrderBook")
        .WithSummary("Resting bids by price level (no identities) and the ask ladder of pools")
        .Produces<OrderBook>();
        return api;
    }

    private static async Task<BidView?> OwnBid(string id, GrainCalls grains, HttpContext context)
    {
        // A model bid, or else a good-till-cancelled compute bid, which rests in no market.
        var bid = await grains.Run(c => c.GetGrain<IBidGrain>(id).Get()) ?? await grains.Run(c => c.GetGrain<IComputeBidGrain>(id).Get());
        return bid is not null && bid.TenantId == Caller.Of(context).TenantId ? bid : null;
    }

    /// <summary>
    /// A bid or quote may name only a voucher of the caller's own tenant. Refused before anything is stored, with the same
    /// answer for another tenant's voucher as for one that does not exist, so voucher ids cannot be probed.
    /// </summary>
    private static async Task<IResult?> ForeignVoucher(string? voucher, string tenant, GrainCalls grains, HttpContext context)
    {
        if (voucher is not { } voucherId)
        {
            return null;
        }
        var held = await grains.Run(c => c.GetGrain<IVoucherGrain>(voucherId).Get());
        if (held is not null && held.TenantId == tenant)
        {
            return null;
        }
        if (held is not null)
        {
            AuditMiddleware.MarkDenied(context);
        }
        return new Check().Add("voucherId", "the tenant holds no such voucher").Problem();
    }

    /// <summary>
    /// A compute bid: PFLOPS-hours, minimum memory, price per PFLOPS-hour and optional vendor and model limits, with the
    /// same window, provinces and voucher as a model bid. It names no model, gang or price per GPU-hour (the market derives
    /// them). Immediate-or-cancel, or good-till-cancelled (<paramref name="rests"/>): it then rests until it fills, is
    /// cancelled or its latest start passes (a good-until time is not taken).
    /// </summary>
    private static ComputeOrder? ValidateCompute(BidBody body, Check check, DateTimeOffset now, MarketLimits limits, out bool rests)
    {
        const string either = "a bid names either a model (gpuModel, gpuCount, maxFenPerGpuHour) or compute (pflopsHours, maxFenPerPflopsHour), never both";
        if (body.GpuModel is not null)
        {
            check.Add("gpuModel", either);
        }
        if (body.GpuCount is not null)
        {
            check.Add("gpuCount", either);
        }
        if (body.MaxFenPerGpuHour is not null)
        {
            check.Add("maxFenPerGpuHour", either);
        }
        check.Add(ComputeRules.Validate(body.PflopsHours, body.MinMemoryGb, body.DurationHours, body.MaxFenPerPflopsHour, limits));
        check.Add(BidOrderRules.ValidateMinReliability(body.MinReliabilityBasisPoints, limits));
        var vendors = body.Vendors ?? [];
        if (vendors.Count > Accelerators.Vendors.Count)
        {
            check.Add("vendors", "too many vendors");
        }
        for (var i = 0; i < vendors.Count && i <= Accelerators.Vendors.Count; i++)
        {
            if (!Accelerators.Vendors.Contains(vendors[i], StringComparer.Ordinal))
            {
                check.Add($"vendors[{i}]", $"'{Check.Trim(vendors[i] ?? "")}' is not a vendor of the catalogue; known vendors: {string.Join(", ", Accelerators.Vendors)}");
            }
        }
        var models = body.GpuModels ?? [];
        if (models.Count > Accelerators.All.Count)
        {
            check.Add("gpuModels", "too many models");
        }
        for (var i = 0; i < models.Count && i <= Accelerators.All.Count; i++)
        {
            check.GpuModel(models[i], $"gpuModels[{i}]");
        }
        check.Enum<TimeInForce>(body.TimeInForce, "timeInForce", out var timeInForce, required: false);
        rests = timeInForce == TimeInForce.Gtc;
        Window(body, check, now, limits, TimeInForce.Ioc); // as for IOC: no good-until time (a resting compute bid lasts until its latest start)
        if (!check.Ok)
        {
            return null;
        }
        return new ComputeOrder(body.PflopsHours!.Value, body.MinMemoryGb ?? 0, body.DurationHours!.Value, body.EarliestStart!.Value.ToUniversalTime(),
            body.LatestStart!.Value.ToUniversalTime(), body.MaxFenPerPflopsHour!.Value, Distinct(vendors), Distinct(models),
            Distinct(body.AllowedProvinces ?? []), body.VoucherId, body.MinReliabilityBasisPoints);
    }

    /// <summary>A compute bid (DESIGN rule 9) names PFLOPS-hours instead of a model.</summary>
    private static bool AsksForCompute(BidBody body) => body.PflopsHours is not null || body.MinMemoryGb is not null
        || body.MaxFenPerPflopsHour is not null || body.Vendors is not null || body.GpuModels is not null;

    private static List<string>? Distinct(List<string> values) => values.Count == 0 ? null : values.Distinct(StringComparer.Ordinal).ToList();

    private static BidOrder? Validate(BidBody body, Check check, DateTimeOffset now, MarketLimits limits)
    {
        // Needed by a bid on one model only, so not marked required on the body (a compute bid names none of them).
        foreach (var (value, field) in new (object?, string)[]
            { (body.GpuModel, "gpuModel"), (body.GpuCount, "gpuCount"), (body.MaxFenPerGpuHour, "maxFenPerGpuHour"), (body.TimeInForce, "timeInForce") })
        {
            if (value is null)
            {
                check.Missing(field, "is required for a bid on a GPU model (a compute bid gives pflopsHours and maxFenPerPflopsHour instead)");
            }
        }
        check.GpuModel(body.GpuModel, "gpuModel")
            .Add(BidOrderRules.Validate(body.GpuCount, body.DurationHours, body.MaxFenPerGpuHour, limits,
                minReliabilityBasisPoints: body.MinReliabilityBasisPoints))
            .Enum<TimeInForce>(body.TimeInForce, "timeInForce", out var timeInForce);
        Window(body, check, now, limits, timeInForce);
        if (!check.Ok)
        {
            return null;
        }
        var provinces = body.AllowedProvinces ?? [];
        return new BidOrder(body.GpuModel!, body.GpuCount!.Value, body.DurationHours!.Value, body.EarliestStart!.Value.ToUniversalTime(),
            body.LatestStart!.Value.ToUniversalTime(), body.MaxFenPerGpuHour!.Value,
            provinces.Count == 0 ? null : provinces.Distinct(StringComparer.Ordinal).ToList(), body.VoucherId, timeInForce,
            body.GoodUntil?.ToUniversalTime(), body.MinReliabilityBasisPoints);
    }

    /// <summary>The start window, provinces, voucher and time in force, the same for a model bid and a compute bid.</summary>
    private static void Window(BidBody body, Check check, DateTimeOffset now, MarketLimits limits, TimeInForce timeInForce)
    {
        var horizonDays = limits.BookingHorizonDays;
        var horizonEnd = now.AddDays(horizonDays);
        check.Id(body.VoucherId, "voucherId", required: false);
        if (body.EarliestStart > horizonEnd)
        {
            check.Add("earliestStart", $"must be within the {horizonDays}-day booking horizon");
        }
        if (body.LatestStart < now)
        {
            check.Add("latestStart", "must not be in the past");
        }
        if (body.LatestStart > horizonEnd)
        {
            check.Add("latestStart", $"must be within the {horizonDays}-day booking horizon");
        }
        if (body.LatestStart < body.EarliestStart)
        {
            check.Add("latestStart", "must not be before earliestStart");
        }
        else if (body.EarliestStart is { } earliest && body.LatestStart is { } latest && Hours.Ceiling(earliest) > Hours.Floor(latest))
        {
            check.Add("latestStart", "the start window must include the start of a whole UTC hour (reservations start on the hour)");
        }
        var provinces = body.AllowedProvinces ?? [];
        if (provinces.Count > Provinces.ChineseNames.Count)
        {
            check.Add("allowedProvinces", "too many provinces");
        }
        for (var i = 0; i < provinces.Count && i <= Provinces.ChineseNames.Count; i++)
        {
            check.Province(provinces[i], $"allowedProvinces[{i}]");
        }
        if (check.Ok && timeInForce == TimeInForce.Gtc)
        {
            if (body.GoodUntil is null)
            {
                check.Add("goodUntil", "is required for a GTC bid");
            }
            else if (body.GoodUntil <= now || body.GoodUntil > horizonEnd)
            {
                check.Add("goodUntil", $"must be in the future and within the {horizonDays}-day booking horizon");
            }
        }
        if (check.Ok && timeInForce == TimeInForce.Ioc && body.GoodUntil is not null)
        {
            check.Add("goodUntil", "applies only to GTC bids");
        }
    }
}
