namespace Marketplace.Domain;

/// <summary>What a provider's outage means for its pool's hours (rule 6): when it may be declared and when ending it ends it.</summary>
public static class OutageRules
{
    /// <summary>Why an outage from <paramref name="from"/> to <paramref name="to"/> cannot be declared, or null when it can.</summary>
    public static string? Problem(DateTimeOffset from, DateTimeOffset to) => to <= from ? "an outage must end after it starts" : null;

    /// <summary>
    /// When an outage from <paramref name="from"/> to <paramref name="to"/> ends if ended at <paramref name="at"/>: then, or,
    /// for one not yet begun, where it would have started (it is cancelled and takes no hour). Null when it is over already.
    /// </summary>
    public static DateTimeOffset? EndedAt(DateTimeOffset from, DateTimeOffset to, DateTimeOffset at) =>
        to <= at ? null : from > at ? from : at;
}
