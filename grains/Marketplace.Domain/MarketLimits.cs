using System.ComponentModel.DataAnnotations;

namespace Marketplace.Domain;

/// <summary>
/// Every limit the web tier and the silos both enforce, read by both from the same "Market" settings and validated
/// once at start-up. Each maximum is bounded so that a cost (price × GPUs × hours) or a budget cannot overflow.
/// </summary>
public sealed class MarketLimits
{
    public const string Section = "Market";

    /// <summary>How far ahead capacity can be booked.</summary>
    [Range(1, 60, ErrorMessage = "Market:BookingHorizonDays must be between 1 and 60")]
    public int BookingHorizonDays { get; set; } = 14;

    /// <summary>The largest gang one bid may ask for (it fills in one pool or not at all).</summary>
    [Range(1, 100_000, ErrorMessage = "Market:MaxGangGpus must be between 1 and 100000")]
    public int MaxGangGpus { get; set; } = 1024;

    /// <summary>The most GPUs one pool may list.</summary>
    [Range(1, 100_000, ErrorMessage = "Market:MaxPoolGpus must be between 1 and 100000")]
    public int MaxPoolGpus { get; set; } = 100_000;

    /// <summary>The highest ask (and bid limit) per GPU-hour, in fen.</summary>
    [Range(1, 100_000_000, ErrorMessage = "Market:MaxFenPerGpuHour must be between 1 and 100000000")]
    public long MaxFenPerGpuHour { get; set; } = 100_000_000;

    /// <summary>The largest programme budget or voucher, in fen (ten billion yuan).</summary>
    [Range(1, 1_000_000_000_000_000, ErrorMessage = "Market:MaxProgramFen must be between 1 and 1000000000000000")]
    public long MaxProgramFen { get; set; } = 1_000_000_000_000;

    /// <summary>The longest registration deadline a programme may give, in days.</summary>
    [Range(1, 3650, ErrorMessage = "Market:MaxRegistrationDeadlineDays must be between 1 and 3650")]
    public int MaxRegistrationDeadlineDays { get; set; } = 365;

    /// <summary>The longest validity a programme may give a voucher, in days.</summary>
    [Range(1, 36500, ErrorMessage = "Market:MaxValidityDays must be between 1 and 36500")]
    public int MaxValidityDays { get; set; } = 3650;

    /// <summary>The largest single top-up of a company's prepaid cash, in fen (ten million yuan).</summary>
    [Range(1, 1_000_000_000_000, ErrorMessage = "Market:MaxTopUpFen must be between 1 and 1000000000000")]
    public long MaxTopUpFen { get; set; } = 1_000_000_000;

    /// <summary>Market terms: a tenant cancels free of charge until this many hours before the start.</summary>
    [Range(0, 24 * 60, ErrorMessage = "Market:FreeCancellationHours must be between 0 and 1440")]
    public int FreeCancellationHours { get; set; } = 24;

    /// <summary>
    /// Market terms: the charge for a later cancellation, in basis points of the reservation's cost, paid to the provider;
    /// also what a provider pays back of the undelivered cost when its outage interrupts a rental.
    /// </summary>
    [Range(0, 10_000, ErrorMessage = "Market:CancellationChargeBasisPoints must be between 0 and 10000")]
    public int CancellationChargeBasisPoints { get; set; } = 1_000;

    /// <summary>
    /// The most one company may hold unsettled, in fen: the cost of its reservations from the fill until they are settled,
    /// cancelled or interrupted (one million yuan), so no firm can book a market empty.
    /// </summary>
    [Range(1, 1_000_000_000_000, ErrorMessage = "Market:MaxUnsettledFenPerTenant must be between 1 and 1000000000000")]
    public long MaxUnsettledFenPerTenant { get; set; } = 100_000_000;

    /// <summary>A provider's reliability counts the reservations of this many days back (see <see cref="Reliability"/>).</summary>
    [Range(1, 3650, ErrorMessage = "Market:ReliabilityWindowDays must be between 1 and 3650")]
    public int ReliabilityWindowDays { get; set; } = 90;

    /// <summary>
    /// A provider with fewer GPU-hours booked on its capacity in the window is shown as new: it has no score, so it is
    /// neither punished for one early outage nor given a perfect record it has not earned.
    /// </summary>
    [Range(1, 1_000_000_000, ErrorMessage = "Market:ReliabilityMinimumGpuHours must be between 1 and 1000000000")]
    public long ReliabilityMinimumGpuHours { get; set; } = 100;

    public int HorizonHours => BookingHorizonDays * 24;
}
