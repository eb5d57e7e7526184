namespace Marketplace.Domain;

/// <summary>
/// How the hours a rental used are paid (rules 7 and 8), in fen: the voucher its share, captured from its hold; the
/// tenant the rest from its prepaid cash hold, owing what the hold lacks (a reservation filled before cash was prepaid
/// has no hold); and, for an outage, the provider pays back its share of the hours it did not deliver, from the same
/// hold. The provider is owed the whole cost less that refund.
/// </summary>
/// <param name="CostFen">What the hours used cost.</param>
/// <param name="VoucherFen">What the voucher paid (captured).</param>
/// <param name="CashFen">The tenant's share: the cost less what the voucher paid.</param>
/// <param name="FromHoldFen">The part of the tenant's share taken from its cash hold.</param>
/// <param name="RefundFen">What the provider pays back for an outage.</param>
public readonly record struct RentalSettlement(long CostFen, long VoucherFen, long CashFen, long FromHoldFen, long RefundFen)
{
    /// <summary>What the tenant owes beyond its cash hold.</summary>
    public long OwedFen => CashFen - FromHoldFen;

    /// <summary>What the provider is owed: the cost, less what it pays back for an outage.</summary>
    public long ProviderFen => CostFen - RefundFen;

    /// <summary>
    /// The cost of <paramref name="usedHours"/> of a rental of <paramref name="hours"/> hours and the voucher's share of
    /// them: what its hold keeps (<paramref name="voucherHeldFen"/>), prorated over the hours and rounded down.
    /// </summary>
    public static (long CostFen, long VoucherShareFen) Used(long fenPerGpuHour, int gpus, int hours, int usedHours, long voucherHeldFen) =>
        (Money.Cost(fenPerGpuHour, gpus, usedHours), Money.Prorate(voucherHeldFen, usedHours, hours));

    /// <summary>
    /// The settlement once the voucher has paid <paramref name="capturedFen"/> of <paramref name="costFen"/>: the tenant's
    /// share is taken from its cash hold (<paramref name="cashHeldFen"/>, null: none) as far as it goes, and the provider's
    /// refund for an outage (<paramref name="outageRefundFen"/>) is paid only from a hold.
    /// </summary>
    public static RentalSettlement Of(long costFen, long capturedFen, long? cashHeldFen, long outageRefundFen)
    {
        var cash = costFen - capturedFen;
        return new(costFen, capturedFen, cash, Math.Min(cash, cashHeldFen ?? 0), cashHeldFen is null ? 0 : outageRefundFen);
    }

    /// <summary>
    /// What the provider pays back of the hours its outage left undelivered (rule 8's market terms): the most a cancellation
    /// of those hours could cost.
    /// </summary>
    public static long OutageRefund(long fenPerGpuHour, int gpus, int hours, int deliveredHours, int chargeBasisPoints) =>
        Money.MostCancellationCharge(Money.Cost(fenPerGpuHour, gpus, hours - deliveredHours), chargeBasisPoints);

    /// <summary>
    /// The hours of a rental from <paramref name="startHour"/> for <paramref name="hours"/> hours that come before
    /// <paramref name="fromHour"/> (an interruption's first hour): kept, and so paid for.
    /// </summary>
    public static int HoursBefore(long fromHour, long startHour, int hours) => (int)Math.Clamp(fromHour - startHour, 0, hours);
}
