namespace Marketplace;

/// <summary>
/// Capacity is sold in whole UTC hours. An hour slot is the number of whole hours since the Unix epoch,
/// so slots compare and subtract as plain integers across pools, days and booking horizons.
/// </summary>
public static class Hours
{
    public static long Floor(DateTimeOffset time)
    {
        var seconds = time.ToUnixTimeSeconds();
        return seconds >= 0 ? seconds / 3600 : -((-seconds + 3599) / 3600);
    }

    public static long Ceiling(DateTimeOffset time)
    {
        var floor = Floor(time);
        return ToTime(floor) == time ? floor : floor + 1;
    }

    public static DateTimeOffset ToTime(long slot) => DateTimeOffset.FromUnixTimeSeconds(checked(slot * 3600));

    /// <summary>The first hour that can still be booked: the next whole hour after <paramref name="now"/>.</summary>
    public static long FirstBookable(DateTimeOffset now) => Floor(now) + 1;
}
