using Marketplace.Grains;
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
            .WithSummary("Utilization over the next 24 hours by province, site and GPU model, resting demand and recent fills")
            .Produces<UtilizationSnapshot>();

        api.MapGet("/takeup", async (ReadModels read, CancellationToken ct) => Results.Ok(await read.TakeUpsAsync(null, ct)))
            .RequireAuthorization(Names.Policies.Oversight)
            .WithTags("Oversight")
            .WithSummary("Voucher take-up and budget burn of every program")
            .Produces<IReadOnlyList<TakeUp>>();

        api.MapGet("/audit", async (int? page, int? pageSize, ReadModels read, CancellationToken ct) =>
        {
            var check = new Check();
            var asked = Page.Of(page, pageSize, check);
            return check.Ok ? Results.Ok(await read.AuditAsync(asked.Number, asked.Size, ct)) : check.Problem();
        })
        .RequireAuthorization(Names.Policies.Admin)
        .WithTags("Oversight")
        .WithSummary("The audit trail, newest first (admin)")
        .Produces<IReadOnlyList<AuditView>>();

        api.MapGet("/audit/refusals", async (int? page, int? pageSize, ReadModels read, CancellationToken ct) =>
        {
            var check = new Check();
            var asked = Page.Of(page, pageSize, check);
            return check.Ok ? Results.Ok(await read.RefusalsAsync(asked.Number, asked.Size, ct)) : check.Problem();
        })
        .RequireAuthorization(Names.Policies.Admin)
        .WithTags("Oversight")
        .WithSummary("Refused requests counted per caller, action, status and minute, newest first (admin)")
        .Produces<IReadOnlyList<RefusalView>>();
        return api;
    }
}
