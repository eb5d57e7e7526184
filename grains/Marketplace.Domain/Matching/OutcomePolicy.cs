namespace Marketplace.Matching;

/// <summary>How an attempt to fill a bid on the pool the market decided on ended.</summary>
public enum AttemptOutcome
{
    /// <summary>The reservation is confirmed: the bid is filled.</summary>
    Filled,
    /// <summary>The pool no longer had the hours (the market's view of it was behind).</summary>
    CapacityRefused,
    /// <summary>The voucher refused to pay this pool (its terms changed since the market last read them).</summary>
    FundingRefused,
}

/// <summary>What the market does after an attempt.</summary>
public enum NextStep
{
    /// <summary>Record the fill on the bid.</summary>
    Record,
    /// <summary>Refresh the pool's view and decide again.</summary>
    RefreshAndRetry,
    /// <summary>Read the voucher's terms again, leave this pool out for this bid and decide again.</summary>
    ExcludeAndRetry,
    /// <summary>The voucher cannot pay any pool: end the bid with the voucher's reason.</summary>
    Reject,
    /// <summary>Stop trying for now: the bid rests (or is rejected if it cannot rest) with the last reason.</summary>
    GiveUp,
}

/// <summary>
/// The one policy for what follows each attempt to fill a bid, used by a new bid, a resting bid and the remainder of a
/// reservation an outage interrupted alike. The market decides only on pools the voucher can pay, so a funding refusal
/// means the voucher changed meanwhile; a refusal that concerns the voucher itself ends the bid, one that concerns
/// the pool leaves that pool out.
/// </summary>
public static class OutcomePolicy
{
    /// <summary>Attempts per bid in one go; each refusal refreshes what the market knows, so more rarely help.</summary>
    public const int MaxAttempts = 3;

    /// <summary>Refusals about the funding as a whole (the voucher, or the company's prepaid cash): no other pool would change the answer.</summary>
    private static readonly HashSet<string> VoucherRefusals = new(StringComparer.Ordinal)
    {
        "voucher-not-found", "voucher-not-registered", "voucher-expired", "voucher-lapsed", "voucher-exhausted",
        "hold-conflict", "hold-released", Domain.Rules.CashRules.InsufficientCash, Domain.Rules.CashRules.UnsettledCapReached,
    };

    public static bool EndsTheBid(string refusalCode) => VoucherRefusals.Contains(refusalCode);

    public static NextStep After(AttemptOutcome outcome, string? refusalCode, int attempt) => outcome switch
    {
        AttemptOutcome.Filled => NextStep.Record,
        AttemptOutcome.FundingRefused when refusalCode is not null && EndsTheBid(refusalCode) => NextStep.Reject,
        _ when attempt >= MaxAttempts => NextStep.GiveUp,
        AttemptOutcome.CapacityRefused => NextStep.RefreshAndRetry,
        _ => NextStep.ExcludeAndRetry,
    };
}
