using System.ComponentModel.DataAnnotations;
using Marketplace.Grains;
using Marketplace.Matching;
using Marketplace.Web.Infrastructure;
using Marketplace.Web.Queries;

namespace Marketplace.Web.Api;

internal static class OversightApi
{
    public static RouteGroupBuilder MapOversightApi(this RouteGroupBuilder api)
    {
        api.MapGet("/utilization", async (GrainCalls grains) =>
            Results.Ok(await grains.Run(c => c.GetGrain<IUtilizationGrain>(0).GetSnapshot(0))))
            .RequireAuthorization(Names.Policies.Oversight)
            .WithTags("Oversight")
            .WithName("getUtilization")
            .WithSummary("Utilization over the next 24 hours by province, site and GPU model, resting demand and recent fills")
            .Produces<UtilizationSnapshot>();

        api.MapGet("/takeup", async (ReadModels read, CancellationToken ct) => Results.Ok(await read.TakeUpsAsync(null, ct)))
            .RequireAuthorization(Names.Policies.Oversight)
            .WithTags("Oversight")
            .WithName("listTakeUp")
            .WithSummary("Voucher take-up and budget burn of every program")
            .Produces<IReadOnlyList<TakeUp>>();

        api.MapGet("/audit", async (string? subject, string? action, string? outcome, DateTimeOffset? from, DateTimeOffset? to, int? page, int? pageSize,
            ReadModels read, CancellationToken ct) =>
        {
            var check = new Check()
                .Length(subject, 1, AuditFilter.MaxFieldLength, "subject", required: false)
                .Length(action, 1, AuditFilter.MaxFieldLength, "action", required: false)
                .Length(outcome, 1, AuditFilter.MaxFieldLength, "outcome", required: false);
            if (from >= to)
            {
                check.Add("to", "must be after from");
            }
            var asked = Page.Of(page, pageSize, check);
            return check.Ok
                ? Results.Ok(await read.AuditAsync(new AuditFilter(subject, action, outcome, from, to), asked.Number, asked.Size, ct))
                : check.Problem();
        })
        .RequireAuthorization(Names.Policies.Oversight)
        .WithTags("Oversight")
        .WithName("listAudit")
        .WithSummary("The audit trail, newest first, filtered by who, action (e.g. 'POST /api/v1/programs/{id}/close'), outcome and time (regulator, admin)")
        .Produces<IReadOnlyList<AuditView>>();

        api.MapGet("/audit/refusals", async (int? page, int? pageSize, ReadModels read, CancellationToken ct) =>
        {
            var check = new Check();
            var asked = Page.Of(page, pageSize, check);
            return check.Ok ? Results.Ok(await read.RefusalsAsync(asked.Number, asked.Size, ct)) : check.Problem();
        })
        .RequireAuthorization(Names.Policies.Admin)
        .WithTags("Oversight")
        .WithName("listRefusals")
        .WithSummary("Refused requests counted per caller, action, status and minute, newest first (admin)")
        .Produces<IReadOnlyList<RefusalView>>();
        api.MapGet("/routing", async (GrainCalls grains) => Results.Ok(await grains.Run(c => c.GetGrain<IRoutingGrain>(0).Get())))
            .WithTags("Oversight")
            .WithName("getRouting")
            .WithSummary("The regulator's routing rule: provinces bids are sent to within a margin of the best ask")
            .Produces<RoutingPolicy>();

        api.MapPut("/routing", async (RoutingRequest request, GrainCalls grains, HttpContext context) =>
        {
            var check = Check.Of(request).Add(RoutingPreference.Validate(request.PreferredProvinces, request.WithinBasisPoints));
            if (!check.Ok)
            {
                return check.Problem();
            }
            var subject = Caller.Of(context).Subject;
            return Results.Ok(await grains.Run(c => c.GetGrain<IRoutingGrain>(0).Set(request.PreferredProvinces!, request.WithinBasisPoints!.Value, subject)));
        })
        .RequireAuthorization(Names.Policies.Oversight)
        .WithTags("Oversight")
        .WithName("setRouting")
        .WithSummary("Set the routing rule, e.g. the western hub provinces within 10 % of the best ask (regulator, admin)")
        .Produces<RoutingPolicy>();
        return api;
    }
}

/// <summary>
/// Send bids to pools in <see cref="PreferredProvinces"/> when one can take them at an ask at most
/// <see cref="WithinBasisPoints"/> (10,000 = 100 %) above the best ask. An empty list turns the rule off.
/// </summary>
internal sealed record RoutingRequest([property: Required] IReadOnlyList<string>? PreferredProvinces, [property: Required] int? WithinBasisPoints);
