namespace Marketplace.Domain;

/// <summary>
/// Calendar rules of the programmes are in Beijing time (Asia/Shanghai: UTC+8 all year, no daylight saving since 1991),
/// so a fixed offset is exact for every date the market can see.
/// </summary>
public static class ChinaTime
{
    public static readonly TimeSpan Offset = TimeSpan.FromHours(8);

    /// <summary>The Beijing calendar date of an instant.</summary>
    public static DateOnly DateOf(DateTimeOffset instant) => DateOnly.FromDateTime(instant.ToOffset(Offset).DateTime);

    /// <summary>The instant a Beijing calendar day ends (midnight at its end, in UTC).</summary>
    public static DateTimeOffset EndOf(DateOnly day) =>
        new DateTimeOffset(day.AddDays(1).ToDateTime(TimeOnly.MinValue), Offset).ToUniversalTime();

    /// <summary>
    /// "Register within N days": the period starts the day after the claim and ends when the N-th day ends, Beijing
    /// time (a claim at 23:30 on 1 March has until the end of 16 March with 15 days).
    /// </summary>
    public static DateTimeOffset DeadlineAfterDays(DateTimeOffset from, int days) => EndOf(DateOf(from).AddDays(days));

    /// <summary>
    /// "Valid for N months": until the end of the same day N calendar months later, Beijing time; a day the month lacks
    /// is its last day (registered 31 January with three months: valid to the end of 30 April).
    /// </summary>
    public static DateTimeOffset ValidUntilAfterMonths(DateTimeOffset from, int months) => EndOf(DateOf(from).AddMonths(months));

    /// <summary>
    /// Rule 1's validity after registration: the program's calendar months in Beijing time when it gives months (they win
    /// over days), else its days counted from the instant of registration.
    /// </summary>
    public static DateTimeOffset ValidUntil(DateTimeOffset registeredAt, int validityDays, int? validityMonths) =>
        validityMonths is { } months ? ValidUntilAfterMonths(registeredAt, months) : registeredAt.AddDays(validityDays);
}
