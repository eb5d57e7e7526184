using Marketplace.Grains;
using Marketplace.Web.Infrastructure;
using Marketplace.Web.Queries;

namespace Marketplace.Web.Api;

/// <summary>A regulator's decision on a registration; <see cref="Revision"/>, when given, must be the one the regulator reviewed.</summary>
public sealed record CompanyDecisionRequest(int? Revision, string? Reason);

/// <summary>The programme office verifies the companies the rules rest on: tenants and providers.</summary>
internal static class CompaniesApi
{
    private const string Tenants = "tenants";
    private const string Providers = "providers";

    public static RouteGroupBuilder MapCompaniesApi(this RouteGroupBuilder api)
    {
        var companies = api.MapGroup("/companies").WithTags("Companies").RequireAuthorization(Names.Policies.Oversight);

        companies.MapGet("/", async (string? state, int? page, int? pageSize, ReadModels read, CancellationToken ct) =>
        {
            var check = new Check().Enum<CompanyState>(state ?? nameof(CompanyState.Pending), "state", out var wanted);
            var asked = Page.Of(page, pageSize, check);
            return check.Ok ? Results.Ok(await read.CompaniesAsync(wanted, asked.Number, asked.Size, ct)) : check.Problem();
        })
        .WithSummary("Registrations by state (pending unless asked), the longest waiting first, with the changes since each was last verified")
        .Produces<IReadOnlyList<CompanyReviewView>>();

        companies.MapPost("/{party}/{id}/verify", (string party, string id, CompanyDecisionRequest? request, GrainCalls grains, HttpContext context) =>
            Decide(party, id, true, request, grains, context))
            .WithSummary("Verify a tenant's or provider's registration (party: tenants or providers)")
            .Produces<CompanyStatus>();

        companies.MapPost("/{party}/{id}/reject", (string party, string id, CompanyDecisionRequest? request, GrainCalls grains, HttpContext context) =>
            Decide(party, id, false, request, grains, context))
            .WithSummary("Reject a tenant's or provider's registration with a reason (party: tenants or providers)")
            .Produces<CompanyStatus>();
        return api;
    }

    private static async Task<IResult> Decide(string party, string id, bool verify, CompanyDecisionRequest? request, GrainCalls grains, HttpContext context)
    {
        var check = new Check().Id(id, "id");
        if (party is not (Tenants or Providers))
        {
            check.Add("party", $"must be '{Tenants}' or '{Providers}'");
        }
        if (!verify)
        {
            check.Length(request?.Reason, 1, 2000, "reason");
        }
        if (!check.Ok)
        {
            return check.Problem();
        }
        var decision = new CompanyDecision(verify, Caller.Of(context).Subject, verify ? null : request!.Reason, request?.Revision);
        if (party == Tenants)
        {
            if (await grains.Run(c => c.GetGrain<ITenantGrain>(id).Get()) is null)
            {
                return Problems.NotFound(context, "tenant", id);
            }
            return Results.Ok((await grains.Run(c => c.GetGrain<ITenantGrain>(id).Review(decision))).Status);
        }
        if (await grains.Run(c => c.GetGrain<IProviderGrain>(id).Get()) is null)
        {
            return Problems.NotFound(context, "provider", id);
        }
        return Results.Ok((await grains.Run(c => c.GetGrain<IProviderGrain>(id).Review(decision))).Status);
    }
}
