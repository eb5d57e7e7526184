namespace Marketplace.Domain;

/// <summary>
/// Every money formula of the market, in fen (1 CNY = 100 fen). Arithmetic is <c>checked</c>: an amount too large for a
/// <see cref="long"/> is refused with an <see cref="OverflowException"/>, never wrapped. Shares round down, so the buyer
/// (who pays the rest in cash) pays the odd fen and a voucher never pays more than its coverage.
/// </summary>
public static class Money
{
    /// <summary>Coverage is given in basis points of the cost: 10,000 is the whole cost.</summary>
    public const int WholeInBasisPoints = 10_000;

    /// <summary>What <paramref name="gpus"/> GPUs cost for <paramref name="hours"/> hours at an ask per GPU-hour.</summary>
    public static long Cost(long fenPerGpuHour, int gpus, int hours)
    {
        NotNegative(fenPerGpuHour, nameof(fenPerGpuHour));
        NotNegative(gpus, nameof(gpus));
        NotNegative(hours, nameof(hours));
        return checked(fenPerGpuHour * gpus * hours);
    }

    /// <summary>A voucher's share of a cost at its coverage, rounded down (the buyer pays the odd fen).</summary>
    public static long VoucherShare(long costFen, int coverageBasisPoints)
    {
        NotNegative(costFen, nameof(costFen));
        if (coverageBasisPoints is < 0 or > WholeInBasisPoints)
        {
            throw new ArgumentOutOfRangeException(nameof(coverageBasisPoints), coverageBasisPoints, "coverage is 0 to 10000 basis points");
        }
        return checked(costFen * coverageBasisPoints) / WholeInBasisPoints;
    }

    /// <summary>
    /// Stacking: a further voucher pays its coverage of what the vouchers already funding the cost leave unpaid, and
    /// never more than it has left, so together they never pay more than the cost.
    /// </summary>
    public static long StackedShare(long costFen, long alreadyFundedFen, int coverageBasisPoints, long availableFen)
    {
        NotNegative(alreadyFundedFen, nameof(alreadyFundedFen));
        var unpaid = Math.Max(0, costFen - alreadyFundedFen);
        return Math.Max(0, Math.Min(VoucherShare(unpaid, coverageBasisPoints), availableFen));
    }

    /// <summary>
    /// The part of an amount that belongs to <paramref name="part"/> of <paramref name="whole"/> hours, rounded down: the
    /// voucher share of the hours used or kept. Nothing of nothing.
    /// </summary>
    public static long Prorate(long amountFen, int part, int whole)
    {
        if (whole == 0)
        {
            return 0;
        }
        return checked(amountFen * part) / whole;
    }

    /// <summary>
    /// What a tenant pays the provider for cancelling a reservation at <paramref name="now"/>: nothing until
    /// <paramref name="freeHours"/> hours before the start, then <paramref name="chargeBasisPoints"/> of the cost, rounded down.
    /// </summary>
    public static long CancellationCharge(long costFen, DateTimeOffset startsAt, DateTimeOffset now, int freeHours, int chargeBasisPoints) =>
        now < startsAt - TimeSpan.FromHours(freeHours) ? 0 : MostCancellationCharge(costFen, chargeBasisPoints);

    /// <summary>The most a cancellation can cost: the charge in basis points of the cost, rounded down.</summary>
    public static long MostCancellationCharge(long costFen, int chargeBasisPoints)
    {
        NotNegative(costFen, nameof(costFen));
        if (chargeBasisPoints is < 0 or > WholeInBasisPoints)
        {
            throw new ArgumentOutOfRangeException(nameof(chargeBasisPoints), chargeBasisPoints, "a charge is 0 to 10000 basis points");
        }
        return checked(costFen * chargeBasisPoints) / WholeInBasisPoints;
    }

    /// <summary>
    /// Rule 8: the tenant's prepaid cash held at the fill: the cash share (cost less the voucher share), but never less than
    /// the most a cancellation could cost, so public money never pays a cancellation charge.
    /// </summary>
    public static long CashHold(long costFen, long voucherFen, int chargeBasisPoints)
    {
        NotNegative(voucherFen, nameof(voucherFen));
        return Math.Max(costFen - voucherFen, MostCancellationCharge(costFen, chargeBasisPoints));
    }

    private static void NotNegative(long value, string name)
    {
        if (value < 0)
        {
            throw new ArgumentOutOfRangeException(name, value, "must not be negative");
        }
    }
}
