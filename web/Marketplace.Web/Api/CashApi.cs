using System.ComponentModel.DataAnnotations;
using Marketplace.Domain.Rules;
using Marketplace.Grains;
using Marketplace.Web.Infrastructure;

namespace Marketplace.Web.Api;

/// <summary>Money received for a company, with the bank's (or payment channel's) reference, unique per payment.</summary>
public sealed record CashTopUpRequest([property: Required] long? AmountFen, [property: Required] string? PaymentReference);

/// <summary>Money the company takes out of its available cash; the client's request id stands in for an Idempotency-Key header.</summary>
public sealed record CashWithdrawalRequest([property: Required] long? AmountFen, string? ClientRequestId = null);

/// <summary>Rule 8: a company's prepaid cash, paid in by the marketplace's operator and held at every fill.</summary>
internal static class CashApi
{
    private const int Movements = 50;

    public static RouteGroupBuilder MapCashApi(this RouteGroupBuilder api)
    {
        var cash = api.MapGroup("/tenants").WithTags("Cash");

        cash.MapPost("/{id}/cash/top-ups", async (string id, CashTopUpRequest request, GrainCalls grains, MarketLimits limits, HttpContext context) =>
        {
            var check = Check.Of(request).Add(CashRules.Validate(request.AmountFen, request.PaymentReference, "paymentReference", limits));
            if (!check.Ok)
            {
                return check.Problem();
            }
            var payment = await grains.Run(c => c.GetGrain<ICashGrain>(id).TopUp(request.AmountFen!.Value, request.PaymentReference!));
            AuditMiddleware.Describe(context, $"top-up {payment.Reference} of {payment.AmountFen} fen for tenant {payment.TenantId}");
            return Results.Ok(payment);
        })
        .RequireAuthorization(Names.Policies.Admin)
        .WithName("topUpTenantCash")
        .WithSummary("Record money received for a company (admin); a repeat of the same payment reference and amount returns the first top-up, another amount 409")
        .Produces<CashPayment>()
        .ProducesProblem(StatusCodes.Status404NotFound)
        .ProducesProblem(StatusCodes.Status409Conflict);

        cash.MapPost("/me/cash/withdrawals", async (CashWithdrawalRequest request, GrainCalls grains, MarketLimits limits, HttpContext context) =>
        {
            var key = context.Request.Headers[Names.Headers.IdempotencyKey].ToString() is { Length: > 0 } header ? header : request.ClientRequestId;
            var check = Check.Of(request).Add(CashRules.Validate(request.AmountFen, key, "clientRequestId", limits));
            if (!check.Ok)
            {
                return check.Problem();
            }
            var tenant = Caller.Of(context).Tenant;
            var payment = await grains.Run(c => c.GetGrain<ICashGrain>(tenant).Withdraw(request.AmountFen!.Value, key!));
            AuditMiddleware.Describe(context, $"withdrawal {payment.Reference} of {payment.AmountFen} fen by tenant {payment.TenantId}");
            return Results.Ok(payment);
        })
        .RequireAuthorization(Names.Policies.Sme)
        .WithMetadata(new IdempotentEndpoint())
        .WithName("withdrawMyCash")
        .WithSummary("Take money out of the caller's available cash (never what is held for reservations); needs an Idempotency-Key header or a clientRequestId")
        .Produces<CashPayment>()
        .ProducesProblem(StatusCodes.Status409Conflict)
        .ProducesProblem(StatusCodes.Status422UnprocessableEntity);

        cash.MapGet("/me/cash", async (GrainCalls grains, HttpContext context) =>
        {
            var tenant = Caller.Of(context).Tenant;
            return Results.Ok(await grains.Run(c => c.GetGrain<ICashGrain>(tenant).Get(Movements)));
        })
        .RequireAuthorization(Names.Policies.Sme)
        .WithName("getMyCash")
        .WithSummary("The caller's prepaid cash: available, held for reservations, and the latest movements")
        .Produces<CashBalance>();

        cash.MapGet("/{id}/cash", async (string id, GrainCalls grains, HttpContext context) =>
        {
            if (await grains.Run(c => c.GetGrain<ITenantGrain>(id).Get()) is null)
            {
                return Problems.NotFound(context, "tenant", id);
            }
            return Results.Ok(await grains.Run(c => c.GetGrain<ICashGrain>(id).Get(Movements)));
        })
        .RequireAuthorization(Names.Policies.Oversight)
        .WithName("getTenantCash")
        .WithSummary("A company's prepaid cash (regulator, admin): available, held for reservations, and the latest movements")
        .Produces<CashBalance>()
        .ProducesProblem(StatusCodes.Status404NotFound);
        return api;
    }
}
