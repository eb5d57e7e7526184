using Marketplace.Grains;
using Marketplace.Storage;
using Marketplace.Web.Infrastructure;

namespace Marketplace.Web.Api;

public sealed record BidBody(
    string? GpuModel,
    int? GpuCount,
    int? DurationHours,
    DateTimeOffset? EarliestStart,
    DateTimeOffset? LatestStart,
    long? MaxFenPerGpuHour,
    List<string>? AllowedProvinces,
    string? VoucherId,
    string? TimeInForce,
    DateTimeOffset? GoodUntil,
    string? ClientOrderId);

internal static class MarketApi
{
    public static RouteGroupBuilder MapMarketApi(this RouteGroupBuilder api)
    {
        var market = api.MapGroup("/").WithTags("Market");

        market.MapPost("/bids", async (BidBody body, GrainCalls grains, MarketLimits limits, HttpContext context,
            [FromKeyedServices(Names.ClockKeys.Market)] TimeProvider clock) =>
        {
            var key = context.Request.Headers[Names.Headers.IdempotencyKey].ToString() is { Length: > 0 } header ? header : body.ClientOrderId;
            var check = new Check();
            if (string.IsNullOrEmpty(key))
            {
                check.Add("clientOrderId", "send an Idempotency-Key header or a clientOrderId, so a retried bid is never placed twice");
            }
            else
            {
                check.Length(key, 1, 100, "clientOrderId");
            }
            var order = Validate(body, check, clock.GetUtcNow(), limits);
            if (!check.Ok)
            {
                return check.Problem();
            }
            var tenant = Caller.Of(context).Tenant;
            if (await ForeignVoucher(order!, tenant, grains, context) is { } refused)
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
            var check = new Check();
            var order = Validate(body with { TimeInForce = body.TimeInForce ?? "IOC" }, check, clock.GetUtcNow(), limits);
            if (!check.Ok)
            {
                return check.Problem();
            }
            var tenant = Caller.Of(context).Tenant;
            if (await ForeignVoucher(order!, tenant, grains, context) is { } refused)
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
            return Results.Ok(await grains.Run(c => c.GetGrain<IMarketGrain>(bid.Order.GpuModel).CancelBid(id, tenant)));
        })
        .RequireAuthorization(Names.Policies.Sme)
        .WithName("cancelBid")
        .WithSummary("Cancel a resting bid")
        .Produces<BidView>();

        market.MapGet("/markets", () => Results.Ok(GpuModels.Known))
            .WithName("listMarkets")
            .WithSummary("The GPU models traded")
            .Produces<IReadOnlyList<string>>();

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
        var bid = await grains.Run(c => c.GetGrain<IBidGrain>(id).Get());
        return bid is not null && bid.TenantId == Caller.Of(context).TenantId ? bid : null;
    }

    /// <summary>
    /// A bid or quote may name only a voucher of the caller's own tenant. Refused before anything is stored, with the same
    /// answer for another tenant's voucher as for one that does not exist, so voucher ids cannot be probed.
    /// </summary>
    private static async Task<IResult?> ForeignVoucher(BidOrder order, string tenant, GrainCalls grains, HttpContext context)
    {
        if (order.VoucherId is not { } voucherId)
        {
            return null;
        }
        var voucher = await grains.Run(c => c.GetGrain<IVoucherGrain>(voucherId).Get());
        if (voucher is not null && voucher.TenantId == tenant)
        {
            return null;
        }
        if (voucher is not null)
        {
            AuditMiddleware.MarkDenied(context);
        }
        return new Check().Add("voucherId", "the tenant holds no such voucher").Problem();
    }

    private static BidOrder? Validate(BidBody body, Check check, DateTimeOffset now, MarketLimits limits)
    {
        var horizonDays = limits.BookingHorizonDays;
        var horizonEnd = now.AddDays(horizonDays);
        check.GpuModel(body.GpuModel, "gpuModel")
            .Add(BidOrderRules.Validate(body.GpuCount, body.DurationHours, body.MaxFenPerGpuHour, limits))
            .Required(body.EarliestStart, "earliestStart")
            .Required(body.LatestStart, "latestStart")
            .Id(body.VoucherId, "voucherId", required: false)
            .Enum<TimeInForce>(body.TimeInForce, "timeInForce", out var timeInForce);
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
        if (!check.Ok)
        {
            return null;
        }
        return new BidOrder(body.GpuModel!, body.GpuCount!.Value, body.DurationHours!.Value, body.EarliestStart!.Value.ToUniversalTime(),
            body.LatestStart!.Value.ToUniversalTime(), body.MaxFenPerGpuHour!.Value,
            provinces.Count == 0 ? null : provinces.Distinct(StringComparer.Ordinal).ToList(), body.VoucherId, timeInForce,
            body.GoodUntil?.ToUniversalTime());
    }
}
