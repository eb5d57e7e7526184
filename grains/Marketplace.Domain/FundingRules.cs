namespace Marketplace.Domain;

/// <summary>
/// One programme notice as rule 3 reads it: from <see cref="EffectiveFrom"/> on, the company with this unified social
/// credit code is (not) approved. A programme approves a company, not a login or a provider id: the approval applies to
/// every site the company lists.
/// </summary>
public readonly record struct ApprovalStep(string CreditCode, bool Approved, DateTimeOffset EffectiveFrom);

/// <summary>
/// What a voucher can pay for, as the market needs to know it before it decides (rules 1 and 3): the facts are the
/// voucher's expiry, its programme's approval notices and the credit codes the voucher must never pay (the tenant's
/// own and its related parties'). The voucher checks the same rules when it holds funds, so the market and the voucher
/// never disagree about a pool.
/// </summary>
public static class FundingRules
{
    public const string NotApproved = "provider-not-approved";
    public const string RelatedParty = "related-party";
    public const string RentalAfterExpiry = "rental-after-expiry";

    /// <summary>
    /// Rule 3 at one instant: the last notice for the company in effect at <paramref name="on"/> decides; without one the
    /// company is not approved. <paramref name="notices"/> are in the order they take effect.
    /// </summary>
    public static bool IsApproved(IEnumerable<ApprovalStep> notices, string? creditCode, DateTimeOffset on)
    {
        var approved = false;
        foreach (var notice in notices)
        {
            if (notice.CreditCode == creditCode && notice.EffectiveFrom <= on)
            {
                approved = notice.Approved;
            }
        }
        return approved;
    }

    /// <summary>
    /// Rule 3 over time: the spans in which the company is approved, in order, each from a notice that approves to the
    /// next one that removes (<see cref="DateTimeOffset.MaxValue"/> while none does). A provider without a credit code is
    /// never approved.
    /// </summary>
    public static IReadOnlyList<(DateTimeOffset From, DateTimeOffset Until)> ApprovedSpans(IReadOnlyList<ApprovalStep> notices, string? creditCode)
    {
        var spans = new List<(DateTimeOffset, DateTimeOffset)>();
        DateTimeOffset? open = null;
        foreach (var at in notices.Where(n => creditCode is not null && n.CreditCode == creditCode).Select(n => n.EffectiveFrom).Distinct().Order())
        {
            var approved = IsApproved(notices, creditCode, at);
            if (approved && open is null)
            {
                open = at;
            }
            else if (!approved && open is { } from)
            {
                spans.Add((from, at));
                open = null;
            }
        }
        if (open is { } stillOpen)
        {
            spans.Add((stillOpen, DateTimeOffset.MaxValue));
        }
        return spans;
    }

    /// <summary>
    /// Rule 3 over a rental: the provider's company is approved for every hour from <paramref name="from"/> to
    /// <paramref name="to"/>, so a voucher never pays for hours its programme does not approve.
    /// </summary>
    public static bool IsApprovedThroughout(IReadOnlyList<ApprovalStep> notices, string? creditCode, DateTimeOffset from, DateTimeOffset to) =>
        ApprovedSpans(notices, creditCode).Any(s => s.From <= from && to <= s.Until);

    /// <summary>
    /// Every start at which the voucher can pay a rental of <paramref name="duration"/> from this provider, as windows of
    /// [earliest, latest] start, in order: inside an approved span and ending by the expiry; none for a related party.
    /// </summary>
    public static IReadOnlyList<(DateTimeOffset Earliest, DateTimeOffset Latest)> StartWindows(DateTimeOffset? expiresAt,
        IReadOnlyList<ApprovalStep> notices, IReadOnlyCollection<string> forbiddenCreditCodes, string? providerCreditCode, TimeSpan duration)
    {
        if (IsRelatedParty(forbiddenCreditCodes, providerCreditCode))
        {
            return [];
        }
        var windows = new List<(DateTimeOffset, DateTimeOffset)>();
        foreach (var (from, until) in ApprovedSpans(notices, providerCreditCode))
        {
            var end = expiresAt is { } expiry && expiry < until ? expiry : until;
            if (end == DateTimeOffset.MaxValue)
            {
                windows.Add((from, DateTimeOffset.MaxValue));
            }
            else if (end - from >= duration)
            {
                windows.Add((from, end - duration));
            }
        }
        return windows;
    }

    /// <summary>
    /// Rule 2: the credit codes a voucher never pays: the tenant's own and its related parties', those frozen into the voucher
    /// at its claim and today's (a later change can add to them, never remove), in ordinal order.
    /// </summary>
    public static IReadOnlyList<string> ForbiddenCreditCodes(string? claimedCreditCode, IEnumerable<string>? frozenRelatedParties,
        string? currentCreditCode, IEnumerable<string>? currentRelatedParties)
    {
        var codes = new HashSet<string>(StringComparer.Ordinal);
        foreach (var code in new[] { claimedCreditCode, currentCreditCode })
        {
            if (code is not null)
            {
                codes.Add(code);
            }
        }
        codes.UnionWith(frozenRelatedParties ?? []);
        codes.UnionWith(currentRelatedParties ?? []);
        return [.. codes.Order(StringComparer.Ordinal)];
    }

    /// <summary>
    /// Rule 3's anti double subsidy: a voucher may fund a rental other vouchers fund already only when it and every one of
    /// them allow stacking.
    /// </summary>
    public static bool StackingAllowed(bool stackable, IReadOnlyCollection<bool> othersStackable) =>
        othersStackable.Count == 0 || (stackable && othersStackable.All(s => s));

    /// <summary>Rule 2: a voucher never pays the tenant itself or a provider related to it.</summary>
    public static bool IsRelatedParty(IReadOnlyCollection<string> forbiddenCreditCodes, string? providerCreditCode) =>
        providerCreditCode is not null && forbiddenCreditCodes.Contains(providerCreditCode, StringComparer.Ordinal);

    /// <summary>
    /// Why a voucher cannot pay a rental of a provider from <paramref name="start"/> to <paramref name="end"/>, or null
    /// when it can (its remaining value is checked when it holds: it changes with every fill).
    /// </summary>
    public static (string Code, string Reason)? Refusal(DateTimeOffset? expiresAt, IReadOnlyList<ApprovalStep> notices,
        IReadOnlyCollection<string> forbiddenCreditCodes, string? providerCreditCode, DateTimeOffset start, DateTimeOffset end)
    {
        if (expiresAt is { } expiry && end > expiry)
        {
            return (RentalAfterExpiry, $"the voucher expires at {expiry:u}, before the rental ends");
        }
        if (!IsApprovedThroughout(notices, providerCreditCode, start, end))
        {
            return (NotApproved, $"the provider's company ({providerCreditCode ?? "no credit code"}) is not approved by the voucher's program for every hour from {start:u} to {end:u}");
        }
        if (IsRelatedParty(forbiddenCreditCodes, providerCreditCode))
        {
            return (RelatedParty, "a voucher never pays a provider related to the tenant");
        }
        return null;
    }

    /// <summary>
    /// What a voucher pays of a rental once the rules above allow it: its coverage of what the vouchers already funding
    /// it leave unpaid, never more than it has left; or why it pays nothing. The voucher's own hold and a market's fill
    /// both ask here.
    /// </summary>
    /// <param name="stackingAllowed">No other voucher funds the rental, or this one and all of those allow stacking.</param>
    public static (long AmountFen, string? Code, string? Reason) Share(long costFen, long alreadyFundedFen, bool stackingAllowed,
        int coverageBasisPoints, long availableFen)
    {
        if (!stackingAllowed)
        {
            return (0, "already-funded", "another voucher already pays for this reservation");
        }
        if (availableFen <= 0)
        {
            return (0, "voucher-exhausted", "the voucher has no value left");
        }
        var amount = Money.StackedShare(costFen, alreadyFundedFen, coverageBasisPoints, availableFen);
        return amount <= 0
            ? (0, "already-funded", "the vouchers already funding this reservation leave nothing for this one to pay")
            : (amount, null, null);
    }
}
