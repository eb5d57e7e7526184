using Marketplace.Domain;
using Marketplace.Domain.Rules;

namespace Marketplace.Matching;

/// <summary>
/// A regulator's routing rule ("Eastern Data, Western Computing"): a bid goes to a pool in one of the preferred
/// provinces when one can take it at an ask no more than <see cref="WithinBasisPoints"/> above the best ask (and within
/// the bid's limit), even though a cheaper pool elsewhere could take it. Without preferred provinces it changes nothing.
/// </summary>
public sealed record RoutingPreference(IReadOnlySet<string> Provinces, int WithinBasisPoints)
{
    /// <summary>The furthest above the best ask a preference may send a bid: half as much again.</summary>
    public const int MaxWithinBasisPoints = 5_000;

    public static readonly RoutingPreference None = new(new HashSet<string>(), 0);

    /// <summary>The hub provinces of the national "Eastern Data, Western Computing" plan in the west of the country.</summary>
    public static readonly IReadOnlyList<string> WesternHubProvinces = ["Inner Mongolia", "Guizhou", "Gansu", "Ningxia"];

    public bool IsActive => Provinces.Count > 0;

    public bool Prefers(string province) => Provinces.Contains(province);

    /// <summary>The highest ask a preferred pool may have when the best ask is <paramref name="bestAsk"/> (rounded down).</summary>
    public long AskLimit(long bestAsk) => checked(bestAsk * (Money.WholeInBasisPoints + WithinBasisPoints)) / Money.WholeInBasisPoints;

    public static FieldErrors Validate(IReadOnlyList<string>? provinces, int? withinBasisPoints, FieldErrors? errors = null)
    {
        errors ??= new FieldErrors();
        if (provinces is null)
        {
            errors.Add("preferredProvinces", "is required (an empty list turns the preference off)");
        }
        else
        {
            for (var i = 0; i < provinces.Count; i++)
            {
                if (!Marketplace.Provinces.IsKnown(provinces[i]))
                {
                    errors.Add($"preferredProvinces[{i}]", "is not a province of China");
                }
            }
        }
        return errors.Range(withinBasisPoints, 0, MaxWithinBasisPoints, "withinBasisPoints");
    }
}
