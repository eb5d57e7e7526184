using Marketplace.Domain.Rules;
using Marketplace.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace Marketplace.Grains;

[GenerateSerializer]
public sealed class TenantState : CompanyReview.IReviewed<TenantRegistration>
{
    [Id(0)] public TenantRegistration? Registration { get; set; }
    [Id(1)] public DateTimeOffset RegisteredAt { get; set; }
    [Id(2)] public CompanyStatus? Status { get; set; }
    /// <summary>The registration as last verified: what a later change is compared with.</summary>
    [Id(3)] public TenantRegistration? Verified { get; set; }
}

public sealed class TenantGrain(
    [PersistentState("tenant", Names.Storage.Grains)] IPersistentState<TenantState> state,
    CompanyStore companies,
    [FromKeyedServices(Names.ClockKeys.Market)] TimeProvider clock) : Grain, ITenantGrain
{
    /// <summary>
    /// A registration made before companies were verified has no status and is not in the programme office's queue: it
    /// joins the queue as pending when it is next activated (any read or action does), and holds its credit code unless
    /// another tenant holds it, which the regulator is shown as a change to review.
    /// </summary>
    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (state.State.Registration is not { } registration || state.State.Status is not null)
        {
            return;
        }
        var holder = await companies.HoldAsync(CompanyParty.Tenant, this.GetPrimaryKeyString(), registration.CreditCode, clock.GetUtcNow(), cancellationToken);
        state.State.Status = holder is null
            ? CompanyReview.Unreviewed
            : CompanyReview.Unreviewed with { Changes = [new CompanyChange("creditCode", registration.CreditCode, $"also registered by tenant {holder}")] };
        await state.WriteStateAsync(cancellationToken);
        await SaveForReviewAsync();
    }

    public async Task<TenantView> Register(TenantRegistration registration)
    {
        TenantRules.Validate(registration);
        var tenantId = this.GetPrimaryKeyString();
        if (await companies.HoldAsync(CompanyParty.Tenant, tenantId, registration.CreditCode, clock.GetUtcNow()) is not null)
        {
            throw DomainException.Conflict("credit-code-taken",
                $"credit code {registration.CreditCode} is already registered by another tenant: a company registers once");
        }
        if (state.State.Registration is null)
        {
            state.State.RegisteredAt = clock.GetUtcNow();
        }
        state.State.Status = CompanyReview.AfterRegistration(state.State.Status, CompanyReview.Changes(state.State.Verified, registration));
        if (state.State.Status.IsVerified)
        {
            state.State.Verified = registration;
        }
        state.State.Registration = registration;
        await state.WriteStateAsync();
        await SaveForReviewAsync();
        return View()!;
    }

    public async Task<TenantView> Review(CompanyDecision decision)
    {
        CompanyReview.Apply(state.State, decision, clock.GetUtcNow());
        await state.WriteStateAsync();
        await SaveForReviewAsync();
        return View()!;
    }

    private Task SaveForReviewAsync()
    {
        var registration = state.State.Registration!;
        return companies.SaveAsync(new CompanyRow(CompanyParty.Tenant, this.GetPrimaryKeyString(), registration.Name, registration.CreditCode,
            state.State.Status!, StateJson.Serialize(registration), clock.GetUtcNow()));
    }

    public Task<TenantView?> Get() => Task.FromResult(View());

    private TenantView? View() => state.State.Registration is { } registration
        ? new TenantView(this.GetPrimaryKeyString(), registration, state.State.RegisteredAt, state.State.Status)
        : null;
}

public static class TenantRules
{

    /// <summary>Rule 2's preconditions on who a tenant is: a valid credit code, or a startup team's credibility statement.</summary>
    public static void Validate(TenantRegistration registration)
    {
        if (registration.CreditCode is not null && CreditCode.Validate(registration.CreditCode) is { } problem)
        {
            throw DomainException.Rule("invalid-credit-code", $"creditCode {problem}", "creditCode");
        }
        if (registration.CreditCode is not null && Provinces.CreditCodeMismatch(registration.CreditCode, registration.Province) is { } mismatch)
        {
            throw DomainException.Rule("credit-code-province-mismatch", $"creditCode {mismatch}", "creditCode");
        }
        if (registration.CreditCode is null)
        {
            if (registration.Kind != TenantKind.StartupTeam)
            {
                throw DomainException.Rule("credit-code-required", "an SME must give its unified social credit code", "creditCode");
            }
            if (string.IsNullOrWhiteSpace(registration.CredibilityStatement))
            {
                throw DomainException.Rule("credibility-statement-required",
                    "a startup team without a credit code claims on a credibility statement", "credibilityStatement");
            }
        }
        if (registration.Members is { } members && (members.Count > CompanyRules.MaxMembers || members.Any(string.IsNullOrWhiteSpace)))
        {
            throw DomainException.Rule("invalid-members", $"name 1 to {CompanyRules.MaxMembers} members, none blank", "members");
        }
        for (var i = 0; i < registration.RelatedPartyCreditCodes.Count; i++)
        {
            if (CreditCode.Validate(registration.RelatedPartyCreditCodes[i]) is { } relatedProblem)
            {
                throw DomainException.Rule("invalid-credit-code", $"relatedPartyCreditCodes[{i}] {relatedProblem}", $"relatedPartyCreditCodes[{i}]");
            }
        }
    }

}
