using Marketplace.Domain.Rules;

namespace Marketplace.Domain;

/// <summary>
/// A provider's delivery over the reliability window: GPU-hours booked on its capacity (reservations confirmed, running,
/// completed or interrupted; a tenant's cancellation does not count) and GPU-hours its outages took away from them.
/// </summary>
public readonly record struct ProviderRecord(long BookedGpuHours, long LostGpuHours);

/// <summary>
/// Provider reliability (hardening issue 17), the one definition the read side, the market and the pages use: the share
/// of the GPU-hours booked on a provider's capacity in the last <see cref="MarketLimits.ReliabilityWindowDays"/> days that
/// its outages did not take away, in basis points, rounded down. A provider with fewer than
/// <see cref="MarketLimits.ReliabilityMinimumGpuHours"/> booked GPU-hours in the window is new: its score is null.
/// </summary>
public static class Reliability
{
    /// <summary>The first hour (whole hours since the epoch) of the window that ends at <paramref name="currentHour"/>: reservations that end after it count.</summary>
    public static long WindowStartHour(long currentHour, MarketLimits limits) => currentHour - limits.ReliabilityWindowDays * 24L;

    /// <summary>The score in basis points (0..10000), or null for a provider too new to have one.</summary>
    public static int? Score(ProviderRecord record, MarketLimits limits)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(record.BookedGpuHours);
        ArgumentOutOfRangeException.ThrowIfNegative(record.LostGpuHours);
        if (record.BookedGpuHours < limits.ReliabilityMinimumGpuHours)
        {
            return null;
        }
        var lost = Math.Min(record.LostGpuHours, record.BookedGpuHours);
        return (int)((record.BookedGpuHours - lost) * Money.WholeInBasisPoints / record.BookedGpuHours);
    }

    /// <summary>
    /// Whether a provider with <paramref name="score"/> may fill a bid that requires <paramref name="minimum"/>: any provider
    /// when the bid sets none (or 0); otherwise only a provider with a score of at least that, so a new provider does not.
    /// </summary>
    public static bool Meets(int? score, int? minimum) => minimum is not > 0 || score >= minimum;

    /// <summary>The bounds of a bid's minimum, in basis points.</summary>
    public static readonly Bounds MinimumBounds = new(0, Money.WholeInBasisPoints);
}
