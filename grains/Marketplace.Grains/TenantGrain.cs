using Microsoft.Extensions.DependencyInjection;

namespace Marketplace.Grains;

[GenerateSerializer]
public sealed class TenantState
{
    [Id(0)] public TenantRegistration? Registration { get; set; }
    [Id(1)] public DateTimeOffset RegisteredAt { get; set; }
}

public sealed class TenantGrain(
    [PersistentState("tenant", Names.Storage.Grains)] IPersistentState<TenantState> state,
    [FromKeyedServices(Names.ClockKeys.Market)] TimeProvider clock) : Grain, ITenantGrain
{
    public async Task<TenantView> Register(TenantRegistration registration)
    {
        TenantRules.Validate(registration);
        if (state.State.Registration is null)
        {
            state.State.RegisteredAt = clock.GetUtcNow();
        }
        state.State.Registration = registration;
        await state.WriteStateAsync();
        return View()!;
    }

    public Task<TenantView?> Get() => Task.FromResult(View());

    private TenantView? View() => state.State.Registration is { } registration
        ? new TenantView(this.GetPrimaryKeyString(), registration, state.State.RegisteredAt)
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
        for (var i = 0; i < registration.RelatedPartyCreditCodes.Count; i++)
        {
            if (CreditCode.Validate(registration.RelatedPartyCreditCodes[i]) is { } relatedProblem)
            {
                throw DomainException.Rule("invalid-credit-code", $"relatedPartyCreditCodes[{i}] {relatedProblem}", $"relatedPartyCreditCodes[{i}]");
            }
        }
    }

}
