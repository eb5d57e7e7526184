using System.ComponentModel.DataAnnotations;
using Marketplace.Grains;
using Marketplace.Web.Infrastructure;

namespace Marketplace.Web.Api;

public sealed record ClaimVoucherRequest(long? AmountFen);

public sealed record ActivityRequest([property: Required] string? Title, [property: Required] string? Description, [property: Required] int? PlannedGpuHours);

internal static class VouchersApi
{
    public static RouteGroupBuilder MapVouchersApi(this RouteGroupBuilder api)
    {
        api.MapPost("/programs/{id}/vouchers", async (string id, ClaimVoucherRequest? request, GrainCalls grains, HttpContext context) =>
        {
            var check = new Check().Range(request?.AmountFen, 1, 1_000_000_000_000, "amountFen", required: false);
            if (!check.Ok)
            {
                return check.Problem();
            }
            var caller = Caller.Of(context);
            var claimKey = IdempotencyKeyOrNew(context);
            var program = grains.Client.GetGrain<IVoucherProgramGrain>(id);
            if (await grains.Run(_ => program.Get()) is null)
            {
                return Problems.NotFound(context, "program", id);
            }
            var voucher = await grains.Run(_ => program.Claim(new ClaimRequest(caller.Tenant, claimKey, request?.AmountFen)));
            return Results.Created($"/api/v1/vouchers/{voucher.Id}", voucher);
        })
        .RequireAuthorization(Names.Policies.Sme)
        .WithMetadata(new IdempotentEndpoint())
        .WithTags("Vouchers")
        .WithName("claimVoucher")
        .WithSummary("Claim a voucher of the program for the caller's tenant (eligibility is checked automatically)")
        .Produces<VoucherView>(StatusCodes.Status201Created);

        api.MapPost("/vouchers/{id}/activity", async (string id, ActivityRequest request, GrainCalls grains, HttpContext context) =>
        {
            var check = Check.Of(request)
                .Name(request.Title, "title")
                .Length(request.Description, 1, 4000, "description", required: false)
                .Range(request.PlannedGpuHours, 1, 1_000_000, "plannedGpuHours", required: false);
            if (!check.Ok)
            {
                return check.Problem();
            }
            var tenant = Caller.Of(context).Tenant;
            var voucher = grains.Client.GetGrain<IVoucherGrain>(id);
            if (await grains.Run(_ => voucher.Get()) is not { } view || view.TenantId != tenant)
            {
                return Problems.NotFound(context, "voucher", id);
            }
            var activity = new RdActivity(request.Title!, request.Description!, request.PlannedGpuHours!.Value);
            return Results.Ok(await grains.Run(_ => voucher.RegisterActivity(tenant, activity)));
        })
        .RequireAuthorization(Names.Policies.Sme)
        .WithTags("Vouchers")
        .WithName("recordVoucherActivity")
        .WithSummary("Register the R&D activity the voucher pays for (within the program's deadline)")
        .Produces<VoucherView>();

        api.MapGet("/vouchers/{id}", async (string id, GrainCalls grains, HttpContext context) =>
        {
            var caller = Caller.Of(context);
            var view = await grains.Run(c => c.GetGrain<IVoucherGrain>(id).Get());
            return view is not null && (caller.IsOversight || caller.Role == Names.Roles.Sme && view.TenantId == caller.TenantId)
                ? Results.Ok(view)
                : Problems.NotFound(context, "voucher", id);
        })
        .WithTags("Vouchers")
        .WithName("getVoucher")
        .WithSummary("A voucher: its balance, state and deadlines (its tenant, regulators and admins)")
        .Produces<VoucherView>();
        return api;
    }

    /// <summary>The client's key for this request, or a fresh one when the client did not send one.</summary>
    public static string IdempotencyKeyOrNew(HttpContext context) =>
        context.Request.Headers[Names.Headers.IdempotencyKey] is { Count: > 0 } key && key.ToString().Length > 0
            ? key.ToString()
            : Guid.NewGuid().ToString("N");
}
