using Marketplace.Matching;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Marketplace.Grains;

[GenerateSerializer]
public sealed class RoutingState
{
    [Id(0)] public RoutingPolicy Policy { get; set; } = RoutingPolicy.None;
}

/// <summary>Keeps the regulator's routing rule and hands it to every market (rule 5's tie-breaks, made a rule).</summary>
public sealed class RoutingGrain(
    [PersistentState("routing", Names.Storage.Grains)] IPersistentState<RoutingState> state,
    [FromKeyedServices(Names.ClockKeys.Market)] TimeProvider clock,
    ILogger<RoutingGrain> logger) : Grain, IRoutingGrain
{
    public Task<RoutingPolicy> Get() => Task.FromResult(state.State.Policy);

    public async Task<RoutingPolicy> Set(IReadOnlyList<string> preferredProvinces, int withinBasisPoints, string updatedBy)
    {
        if (RoutingPreference.Validate(preferredProvinces, withinBasisPoints).First is { } error)
        {
            throw DomainException.Rule("invalid-routing", $"{error.Field} {error.Message}", error.Field);
        }
        var provinces = preferredProvinces.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        state.State.Policy = new RoutingPolicy(provinces, withinBasisPoints, clock.GetUtcNow(), updatedBy);
        await state.WriteStateAsync();
        await GrainFactory.TellEveryMarketAsync(market => market.RoutingChanged(state.State.Policy), logger, "the routing rule");
        return state.State.Policy;
    }
}
