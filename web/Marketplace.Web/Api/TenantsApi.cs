using System.ComponentModel.DataAnnotations;
using Marketplace.Grains;
using Marketplace.Web.Infrastructure;
using Marketplace.Web.Queries;

namespace Marketplace.Web.Api;

public sealed record TenantRequest(
    [property: Required] string? Name,
    [property: Required] string? Kind,
    [property: Required] string? Province,
    string? CreditCode,
    List<string>? RelatedPartyCreditCodes,
    string? CredibilityStatement,
    List<string>? Members = null);

internal static class TenantsApi
{
    private const int ListLimit = 200;

    public static RouteGroupBuilder MapTenantsApi(this RouteGroupBuilder api)
    {
        var tenants = api.MapGroup("/tenants").WithTags("Tenants").RequireAuthorization(Names.Policies.Sme);

        tenants.MapPost("/", async (TenantRequest request, GrainCalls grains, HttpContext context) =>
        {
            var check = Check.Of(request)
                .Name(request.Name, "name")
                .Enum<TenantKind>(request.Kind, "kind", out var kind)
                .Province(request.Province, "province")
                .CreditCodeOf(request.CreditCode, "creditCode", required: false)
                .Length(request.CredibilityStatement, 1, 4000, "credibilityStatement", required: false);
            var related = request.RelatedPartyCreditCodes ?? [];
            if (related.Count > 50)
            {
                check.Add("relatedPartyCreditCodes", "at most 50 related parties");
            }
            for (var i = 0; i < related.Count && i < 50; i++)
            {
                check.CreditCodeOf(related[i], $"relatedPartyCreditCodes[{i}]");
            }
            if (request.CreditCode is not null && CreditCode.IsValid(request.CreditCode) && Provinces.IsKnown(request.Province)
                && Provinces.CreditCodeMismatch(request.CreditCode, request.Province!) is { } mismatch)
            {
                check.Add("creditCode", mismatch);
            }
            var members = request.Members ?? [];
            if (members.Count > CompanyRules.MaxMembers)
            {
                check.Add("members", $"at most {CompanyRules.MaxMembers} members");
            }
            for (var i = 0; i < members.Count && i < CompanyRules.MaxMembers; i++)
            {
                check.Name(members[i], $"members[{i}]");
            }
            if (request.CreditCode is null && kind == TenantKind.Sme)
            {
                check.Add("creditCode", "an SME must give its unified social credit code");
            }
            if (request.CreditCode is null && kind == TenantKind.StartupTeam && string.IsNullOrWhiteSpace(request.CredibilityStatement))
            {
                check.Add("credibilityStatement", "a startup team without a credit code claims on a credibility statement");
            }
            if (!check.Ok)
            {
                return check.Problem();
            }
            var registration = new TenantRegistration(request.Name!, kind, request.Province!, request.CreditCode, related.Distinct().ToList(),
                request.CredibilityStatement, request.Members is null ? null : members);
            var tenantId = Caller.Of(context).Tenant;
            var view = await grains.Run(c => c.GetGrain<ITenantGrain>(tenantId).Register(registration));
            AuditMiddleware.Describe(context, CompaniesApi.AuditDetail(view.Status));
            return Results.Ok(view);
        })
        .WithName("registerTenant")
        .WithSummary("Register (or update) the caller's tenant: a credit code matching the province, held by no other tenant (409 credit-code-taken)")
        .Produces<TenantView>();

        tenants.MapGet("/me", async (GrainCalls grains, HttpContext context) =>
        {
            var tenantId = Caller.Of(context).Tenant;
            var view = await grains.Run(c => c.GetGrain<ITenantGrain>(tenantId).Get());
            return view is null ? Problems.NotFound(context, "tenant", tenantId) : Results.Ok(view);
        })
        .WithName("getMyTenant")
        .WithSummary("The caller's tenant")
        .Produces<TenantView>()
        .ProducesProblem(StatusCodes.Status404NotFound);

        tenants.MapGet("/me/vouchers", async (ReadModels read, HttpContext context, CancellationToken ct) =>
            Results.Ok(await read.VouchersOfTenantAsync(Caller.Of(context).Tenant, ct)))
            .WithName("listMyVouchers")
            .WithSummary("The caller's vouchers")
            .Produces<IReadOnlyList<VoucherView>>();

        tenants.MapGet("/me/bids", async (ReadModels read, HttpContext context, CancellationToken ct) =>
            Results.Ok(await read.BidsOfTenantAsync(Caller.Of(context).Tenant, ListLimit, ct)))
            .WithName("listMyBids")
            .WithSummary("The caller's latest bids")
            .Produces<IReadOnlyList<BidView>>();

        tenants.MapGet("/me/reservations", async (ReadModels read, HttpContext context, CancellationToken ct) =>
            Results.Ok(await read.ReservationsOfTenantAsync(Caller.Of(context).Tenant, ListLimit, ct)))
            .WithName("listMyReservations")
            .WithSummary("The caller's latest reservations")
            .Produces<IReadOnlyList<ReservationView>>();
        return api;
    }
}
