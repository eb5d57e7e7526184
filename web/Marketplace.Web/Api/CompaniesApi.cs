using System.ComponentModel.DataAnnotations;
using Marketplace.Grains;
using Marketplace.Web.Infrastructure;
using Marketplace.Web.Queries;

namespace Marketplace.Web.Api;

/// <summary>Why a registration is rejected, as the company will read it.</summary>
public sealed record CompanyRejection([property: Required] string? Reason);

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
        .WithName("listCompanies")
        .WithSummary("Registrations by state (pending unless asked), the longest waiting first, with the changes since each was last verified")
        .Produces<IReadOnlyList<CompanyReviewView>>();

        // "revision", when given, is the revision the regulator reviewed: a registration changed since is refused (409 company-changed).
        companies.MapPost("/{party}/{id}/verify", (string party, string id, int? revision, GrainCalls grains, HttpContext context) =>
            Decide(party, id, revision, null, grains, context))
            .WithName("verifyCompany")
            .WithSummary("Verify a tenant's or provider's registration (party: tenants or providers; revision: the one reviewed)")
            .Produces<CompanyStatus>();

        companies.MapPost("/{party}/{id}/reject", (string party, string id, int? revision, CompanyRejection request, GrainCalls grains, HttpContext context) =>
            Decide(party, id, revision, request, grains, context))
            .WithName("rejectCompany")
            .WithSummary("Reject a tenant's or provider's registration with a reason (party: tenants or providers; revision: the one reviewed)")
            .Produces<CompanyStatus>();
        return api;
    }

    /// <summary>A verification state for the audit trail: "Pending (revision 3): kind Sme → StartupTeam".</summary>
    public static string AuditDetail(CompanyStatus? status) => status is null ? "no registration" :
        $"{status.State} (revision {status.Revision})"
        + (status.Reason is null ? "" : $": {status.Reason}")
        + (status.Changes.Count == 0 ? "" : ": " + string.Join("; ", status.Changes.Select(c => $"{c.Field} '{c.Before}' → '{c.After}'")));

    /// <summary>Verifies, or rejects when there is a <paramref name="rejection"/>.</summary>
    private static async Task<IResult> Decide(string party, string id, int? revision, CompanyRejection? rejection, GrainCalls grains, HttpContext context)
    {
        var verify = rejection is null;
        var check = (rejection is null ? new Check() : Check.Of(rejection)).Id(id, "id");
        if (party is not (Tenants or Providers))
        {
            check.Add("party", $"must be '{Tenants}' or '{Providers}'");
        }
        if (!verify)
        {
            check.Length(rejection!.Reason, 1, 500, "reason", required: false);
        }
        if (!check.Ok)
        {
            return check.Problem();
        }
        var decision = new CompanyDecision(verify, Caller.Of(context).Subject, rejection?.Reason, revision);
        if (party == Tenants)
        {
            if (await grains.Run(c => c.GetGrain<ITenantGrain>(id).Get()) is null)
            {
                return Problems.NotFound(context, "tenant", id);
            }
            var tenant = (await grains.Run(c => c.GetGrain<ITenantGrain>(id).Review(decision))).Status;
            AuditMiddleware.Describe(context, AuditDetail(tenant));
            return Results.Ok(tenant);
        }
        if (await grains.Run(c => c.GetGrain<IProviderGrain>(id).Get()) is null)
        {
            return Problems.NotFound(context, "provider", id);
        }
        var provider = (await grains.Run(c => c.GetGrain<IProviderGrain>(id).Review(decision))).Status;
        AuditMiddleware.Describe(context, AuditDetail(provider));
        return Results.Ok(provider);
    }
}
