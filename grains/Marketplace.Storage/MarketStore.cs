using Npgsql;

namespace Marketplace.Storage;

/// <summary>A pool as its market reads it: its state with the holds still running, and the version of its terms a fill names.</summary>
public sealed record PoolBooking(PoolState State, long TermsVersion);

/// <summary>
/// One fill as its market writes it. <see cref="Bid"/> is the bid in its final state, over <see cref="BidVersion"/>
/// (0: the bid is new and written for the first time); null when the bid is written apart (the rest of a rental an
/// outage interrupted). <see cref="Voucher"/> is the voucher as read just before, for a voucher fill.
/// <see cref="CashHoldFen"/> is the company's prepaid cash the fill holds (rule 8), and <see cref="MaxUnsettledFen"/> the
/// most the company may hold unsettled with this reservation's cost.
/// </summary>
public sealed record FillWrite(
    string GpuModel,
    long Epoch,
    string BidId,
    BidRecord? Bid,
    long BidVersion,
    ReservationRecord Reservation,
    long PoolTermsVersion,
    VoucherRow? Voucher,
    HoldRow? VoucherHold,
    long CashHoldFen,
    long MaxUnsettledFen);

/// <summary>Why a market's write matched nothing.</summary>
public enum WriteRefusal
{
    /// <summary>Another activation of the market has taken a newer epoch: this one is stale and must stop writing.</summary>
    Fenced,
    /// <summary>The bid is not as the market thought: written already (a repeat) or changed.</summary>
    BidChanged,
    /// <summary>The pool changed what it sells (price, GPUs, outages) since the market read it.</summary>
    PoolChanged,
    /// <summary>The voucher changed since the market read it.</summary>
    VoucherChanged,
    /// <summary>The company has less prepaid cash available than the fill holds (rule 8).</summary>
    InsufficientCash,
    /// <summary>The fill would take the company's unsettled holdings past its cap.</summary>
    UnsettledCapReached,
}

/// <summary>
/// The writes of a market, the single writer of its fills (migration 0110). Each fill is one statement: a guard that
/// names the market's epoch (locking its row so a newer activation waits for it), the pool's terms and, for a voucher
/// fill, the voucher's version, and the company's prepaid cash for the fill's cash hold; then the bid, the confirmed reservation, the capacity hold and the voucher hold with its
/// ledger posting. Statements go through <see cref="CommitBatcher"/>, so fills queued together share one commit.
/// </summary>
public sealed class MarketStore(NpgsqlDataSource db, BidStore bids, ReservationStore reservations)
{
    /// <summary>Takes the market's next epoch: from now on, writes naming an older one match nothing.</summary>
    public async Task<long> TakeEpochAsync(string gpuModel, CancellationToken cancellationToken = default)
    {
        await using var command = db.CreateCommand("""
            INSERT INTO market_epochs (gpu_model, epoch) VALUES (@m, 1)
            ON CONFLICT (gpu_model) DO UPDATE SET epoch = market_epochs.epoch + 1 RETURNING epoch
            """);
        command.Parameters.AddWithValue("m", gpuModel);
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>A pool with its holds that run past <paramref name="fromHour"/>, or null if there is no such pool.</summary>
    public async Task<PoolBooking?> LoadPoolAsync(string poolId, long fromHour, CancellationToken cancellationToken = default) =>
        await PoolStore.ReadAsync(db, poolId, "terms_version", fromHour, cancellationToken) is { } found ? new PoolBooking(found.State, found.Counter) : null;

    /// <summary>The fill as one statement; it returns 1 when written, 0 when a guard did not match (see <see cref="WhyRefusedAsync"/>).</summary>
    public Statement Fill(FillWrite fill, DateTimeOffset now)
    {
        var reservation = fill.Reservation;
        var plan = reservation.Plan;
        var write = Fenced(fill.GpuModel, fill.Epoch, fill.BidId, fill.Bid is null ? null : fill.BidVersion, (plan.PoolId, fill.PoolTermsVersion));
        var voucherFill = fill.Voucher is not null && fill.VoucherHold is not null;
        if (fill.CashHoldFen > 0 && voucherFill)
        {
            // Checked and locked before the voucher's guard writes, so the cash hold after it cannot fail.
            CashStore.LockForHold(write, plan.TenantId, fill.CashHoldFen, plan.CostFen, fill.MaxUnsettledFen);
        }
        if (fill.Voucher is { } voucher && fill.VoucherHold is { } hold)
        {
            // A guard that writes, after every guard that only reads: nothing is written unless those matched.
            write.Narrow(g => $"""
                UPDATE vouchers SET held_fen = vouchers.held_fen + {write.Parameter(hold.AmountFen)}, version = vouchers.version + 1 FROM {g}
                WHERE vouchers.id = {write.Parameter(voucher.Id)} AND vouchers.version = {write.Parameter(voucher.Version)} AND vouchers.state = 'Active'
                RETURNING 1
                """);
            VoucherStore.AddHold(write, voucher, hold, now);
        }
        if (fill.CashHoldFen > 0)
        {
            CashStore.Hold(write, plan.TenantId, plan.ReservationId, fill.CashHoldFen, plan.CostFen, fill.MaxUnsettledFen, now);
        }
        if (fill.Bid is { } bid)
        {
            write.Then(fill.BidVersion == 0
                ? bids.InsertFrom(write, write.Guard, fill.BidId, bid)
                : bids.UpdateFrom(write, write.Guard, fill.BidId, bid, fill.BidVersion));
        }
        write.Then(reservations.InsertFrom(write, write.Guard, plan.ReservationId, reservation));
        write.Then($"""
            INSERT INTO pool_holds (pool_id, reservation_id, start_hour, hours, gpus, confirmed, expires_at, released_from_hour, earned)
            SELECT {write.Parameter(plan.PoolId)}, {write.Parameter(plan.ReservationId)}, {write.Parameter(plan.StartHour)}, {write.Parameter(plan.Hours)},
                   {write.Parameter(plan.Gpus)}, true, NULL, NULL, false
            FROM {write.Guard} RETURNING 1
            """);
        return write.ToStatement(lane: plan.TenantId);
    }

    /// <summary>A bid's state written by its market without a fill (resting, rejected, expired): fenced like a fill.</summary>
    public Statement Bid(string gpuModel, long epoch, string bidId, BidRecord bid, long expectedVersion)
    {
        var write = Fenced(gpuModel, epoch, bidId, expectedVersion);
        write.Then(expectedVersion == 0
            ? bids.InsertFrom(write, write.Guard, bidId, bid)
            : bids.UpdateFrom(write, write.Guard, bidId, bid, expectedVersion));
        return write.ToStatement();
    }

    /// <summary>
    /// The first guard: the market's epoch is current, the bid is at the version the market read (0: not written yet;
    /// null: not checked) and, for a fill, the pool still sells on the terms the fill was decided on. The epoch's row stays
    /// locked FOR SHARE until the commit, so a newer activation waits for the fill; the pool is held with
    /// <c>pool_fill_lock</c> and FOR KEY SHARE, so a change of its terms waits for the fill (migration 0110). Fills never
    /// wait for each other, nor for the pool's other writes.
    /// </summary>
    private static GuardedWrite Fenced(string gpuModel, long epoch, string bidId, long? bidVersion, (string Id, long TermsVersion)? pool = null) =>
        new(w => pool is { } p
            ? $"""
              SELECT 1 FROM market_epochs m, pools p
              WHERE m.gpu_model = {w.Parameter(gpuModel)} AND m.epoch = {w.Parameter(epoch)} AND {BidIs(w, bidId, bidVersion)}
                AND p.id = {w.Parameter(p.Id)} AND p.terms_version = {w.Parameter(p.TermsVersion)} AND pool_fill_lock(p.id)
              FOR SHARE OF m FOR KEY SHARE OF p
              """
            : $"""
              SELECT 1 FROM market_epochs m
              WHERE m.gpu_model = {w.Parameter(gpuModel)} AND m.epoch = {w.Parameter(epoch)} AND {BidIs(w, bidId, bidVersion)}
              FOR SHARE
              """);

    private static string BidIs(GuardedWrite w, string bidId, long? version) => version switch
    {
        null => "true",
        0 => $"NOT EXISTS (SELECT 1 FROM bids WHERE id = {w.Parameter(bidId)})",
        _ => $"EXISTS (SELECT 1 FROM bids WHERE id = {w.Parameter(bidId)} AND version = {w.Parameter(version.Value)})",
    };

    /// <summary>Which guard of a write that matched nothing failed, in the order they are checked.</summary>
    public async Task<WriteRefusal> WhyRefusedAsync(string gpuModel, long epoch, string bidId, long? bidVersion, string? poolId = null,
        long poolTermsVersion = 0, VoucherRow? voucher = null, string? tenantId = null, long cashHoldFen = 0, long costFen = 0, long maxUnsettledFen = long.MaxValue,
        CancellationToken cancellationToken = default)
    {
        await using var command = db.CreateCommand("""
            SELECT coalesce((SELECT epoch FROM market_epochs WHERE gpu_model = @m), 0) = @e,
                   CASE WHEN @checkBid IS NULL THEN true
                        WHEN @checkBid = 0 THEN NOT EXISTS (SELECT 1 FROM bids WHERE id = @b)
                        ELSE EXISTS (SELECT 1 FROM bids WHERE id = @b AND version = @checkBid) END,
                   @p::text IS NULL OR EXISTS (SELECT 1 FROM pools WHERE id = @p AND terms_version = @tv),
                   @ch <= 0 OR EXISTS (SELECT 1 FROM tenant_cash WHERE tenant_id = @t AND available_fen >= @ch),
                   @ch <= 0 OR EXISTS (SELECT 1 FROM tenant_cash WHERE tenant_id = @t AND unsettled_fen + @cost <= @cap)
            """);
        command.Parameters.AddWithValue("cost", costFen);
        command.Parameters.AddWithValue("cap", maxUnsettledFen);
        command.Parameters.Add(new NpgsqlParameter("t", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)tenantId ?? DBNull.Value });
        command.Parameters.AddWithValue("ch", cashHoldFen);
        command.Parameters.AddWithValue("m", gpuModel);
        command.Parameters.AddWithValue("e", epoch);
        command.Parameters.Add(new NpgsqlParameter("checkBid", NpgsqlTypes.NpgsqlDbType.Bigint) { Value = (object?)bidVersion ?? DBNull.Value });
        command.Parameters.AddWithValue("b", bidId);
        command.Parameters.Add(new NpgsqlParameter("p", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)poolId ?? DBNull.Value });
        command.Parameters.AddWithValue("tv", poolTermsVersion);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return !reader.GetBoolean(0) ? WriteRefusal.Fenced
            : !reader.GetBoolean(1) ? WriteRefusal.BidChanged
            : !reader.GetBoolean(2) ? WriteRefusal.PoolChanged
            : !reader.GetBoolean(3) ? WriteRefusal.InsufficientCash
            : !reader.GetBoolean(4) ? WriteRefusal.UnsettledCapReached
            : voucher is not null ? WriteRefusal.VoucherChanged
            : WriteRefusal.PoolChanged; // a guard that failed and holds again now: the pool's counters moved under it
    }
}
