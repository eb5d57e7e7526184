namespace Marketplace;

/// <summary>
/// The regulator's routing rule for every market: bids go to pools in <see cref="PreferredProvinces"/> when one can take
/// them at an ask at most <see cref="WithinBasisPoints"/> above the best ask (see <see cref="Matching.RoutingPreference"/>).
/// </summary>
[GenerateSerializer, Immutable, Alias("routing-policy")]
public sealed record RoutingPolicy(
    [Id(0)] IReadOnlyList<string> PreferredProvinces,
    [Id(1)] int WithinBasisPoints,
    [Id(2)] DateTimeOffset? UpdatedAt,
    [Id(3)] string? UpdatedBy)
{
    public static readonly RoutingPolicy None = new([], 0, null, null);

    public Matching.RoutingPreference ToPreference() =>
        new(PreferredProvinces.ToHashSet(StringComparer.Ordinal), WithinBasisPoints);
}
