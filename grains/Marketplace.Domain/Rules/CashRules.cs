namespace Marketplace.Domain.Rules;

/// <summary>Rule 8's checks on money paid in and out of a company's prepaid cash, the same in the web tier and the grain.</summary>
public static class CashRules
{
    /// <summary>The refusal of a fill or a withdrawal the company's available cash does not cover.</summary>
    public const string InsufficientCash = "insufficient-cash";

    /// <summary>The refusal of a fill that would take the company's unsettled holdings past <see cref="MarketLimits.MaxUnsettledFenPerTenant"/>.</summary>
    public const string UnsettledCapReached = "unsettled-cap-reached";

    public const int MaxReferenceLength = 100;

    public static FieldErrors Validate(long? amountFen, string? reference, string referenceField, MarketLimits limits, FieldErrors? errors = null)
    {
        errors ??= new FieldErrors();
        if (amountFen is not { } amount || amount < 1 || amount > limits.MaxTopUpFen)
        {
            errors.Add("amountFen", $"an amount from 1 to {limits.MaxTopUpFen} fen");
        }
        if (string.IsNullOrWhiteSpace(reference) || reference.Length > MaxReferenceLength)
        {
            errors.Add(referenceField, $"1 to {MaxReferenceLength} characters");
        }
        return errors;
    }
}
