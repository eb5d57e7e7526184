using Marketplace.Storage;

namespace Marketplace.Grains;

/// <summary>
/// A reservation's money outside its voucher (rules 7 and 8): the tenant's prepaid cash hold, released at a cancellation
/// or an interruption and captured at settlement, each as one ledger transaction written with the company's row; and the
/// settlement's ledger transaction of a reservation filled before cash was prepaid, which has no hold.
/// </summary>
internal sealed class ReservationCash(CashStore cash, Npgsql.NpgsqlDataSource db, CommitBatcher writer, TimeProvider clock)
{
    /// <summary>The reservation's cash hold, or null when it has none (any more).</summary>
    public Task<long?> HeldForAsync(string reservationId) => cash.HeldForAsync(reservationId);

    /// <summary>
    /// Releases the reservation's cash hold: <paramref name="chargeFen"/> of it to the provider (a cancellation charge), the
    /// rest back to the company, with <paramref name="refundFen"/> the provider pays back for an outage, as one ledger
    /// transaction written with the company's row. Nothing for a reservation without a hold (or a repeat).
    /// </summary>
    public async Task ReleaseAsync(string reservationId, ReservationPlan plan, long chargeFen, long refundFen, string kind)
    {
        if (await cash.HeldForAsync(reservationId) is not { } held)
        {
            return;
        }
        chargeFen = Math.Min(chargeFen, held);
        var posting = new LedgerPosting($"{kind}:{reservationId}", kind,
            $"Reservation {reservationId}: cash released, {chargeFen} fen charged, {refundFen} fen refunded by the provider",
            [(Accounts.ProviderReceivable(plan.ProviderId), chargeFen - refundFen)], ReservationId: reservationId);
        await cash.CloseHoldAsync(reservationId, plan.TenantId, held, chargeFen, refundFen, captured: false, posting, clock.GetUtcNow());
    }

    /// <summary>
    /// Rule 7's balanced ledger transaction for the hours used: the provider is owed the cost (less an outage's refund), the
    /// voucher's programme pays what the voucher captured, the tenant's cash hold the rest as far as it goes and the tenant
    /// owes what it lacks. With a hold (<paramref name="heldFen"/>) it is written as the hold closes; without one, once.
    /// </summary>
    public async Task SettleAsync(string reservationId, ReservationRecord r, int usedHours, RentalSettlement settlement, long? heldFen,
        DateTimeOffset now)
    {
        var plan = r.Plan;
        var entries = new List<(string, long)> { (Accounts.ProviderReceivable(plan.ProviderId), settlement.ProviderFen) }; // the hold's own: CloseHoldAsync
        if (settlement.VoucherFen > 0)
        {
            entries.Add((Accounts.ProgramPayable(r.VoucherProgramId!), -settlement.VoucherFen));
        }
        if (settlement.OwedFen > 0)
        {
            entries.Add((Accounts.TenantPayable(plan.TenantId), -settlement.OwedFen));
        }
        var posting = new LedgerPosting($"settle:{reservationId}", "settle",
            $"Reservation {reservationId}: {usedHours} h of {plan.Gpus} {plan.GpuModel} at {plan.FenPerGpuHour} fen", entries,
            settlement.VoucherFen > 0 ? r.VoucherProgramId : null, plan.VoucherId, reservationId);
        if (heldFen is { } amount)
        {
            await cash.CloseHoldAsync(reservationId, plan.TenantId, amount, settlement.FromHoldFen, settlement.RefundFen, captured: true, posting, now);
        }
        else if (settlement.CostFen > 0)
        {
            await LedgerWriter.PostOnceAsync(db, writer, posting, now);
        }
    }
}
