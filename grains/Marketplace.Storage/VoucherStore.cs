using Npgsql;

namespace Marketplace.Storage;

public sealed record VoucherRow(
    string Id,
    string ProgramId,
    string TenantId,
    VoucherState State,
    long FaceValueFen,
    long HeldFen,
    long CapturedFen,
    long ReturnedFen,
    int CoverageBasisPoints,
    int ValidityDays,
    bool Stackable,
    DateTimeOffset ClaimedAt,
    DateTimeOffset RegistrationDeadline,
    DateTimeOffset? RegisteredAt,
    DateTimeOffset? ExpiresAt,
    DateTimeOffset? EndedAt,
    RdActivity? Activity,
    long Version,
    int? ValidityMonths = null,
    string? TenantCreditCode = null,
    IReadOnlyList<string>? FrozenRelatedParties = null)
{
    public long AvailableFen => FaceValueFen - HeldFen - CapturedFen - ReturnedFen;

    public VoucherView ToView() => new(Id, ProgramId, TenantId, State, FaceValueFen, HeldFen, CapturedFen, ReturnedFen,
        CoverageBasisPoints, ClaimedAt, RegistrationDeadline, RegisteredAt, ExpiresAt, Activity, Version);
}

public enum HoldState
{
    Held,
    Captured,
    Released,
}

public sealed record HoldRow(
    string ReservationId,
    HoldState State,
    long RentalCostFen,
    long AmountFen,
    long CapturedFen,
    string ProviderId,
    bool Stackable);

/// <summary>
/// Every change to a voucher is one statement: a version-checked update of the voucher row, the hold rows it
/// touches and its balanced ledger postings, all or nothing. A stale version writes nothing and throws
/// <see cref="StaleStateException"/>, so a second activation of the voucher cannot commit over the first.
/// </summary>
public sealed class VoucherStore(NpgsqlDataSource db, CommitBatcher? writer = null)
{
    /// <summary>The columns <see cref="ReadVoucher"/> reads, in its order.</summary>
    public const string Columns = """
        id, program_id, tenant_id, state, face_value_fen, held_fen, captured_fen, returned_fen, coverage_bps, validity_days,
        stackable, claimed_at, registration_deadline, registered_at, expires_at, ended_at, activity::text, version, validity_months,
        tenant_credit_code, related_parties
        """;

    public async Task<(VoucherRow Voucher, Dictionary<string, HoldRow> Holds)?> LoadAsync(string id, CancellationToken cancellationToken = default)
    {
        await using var batch = db.CreateBatch();
        var voucher = new NpgsqlBatchCommand($"SELECT {Columns} FROM vouchers WHERE id = @id");
        voucher.Parameters.AddWithValue("id", id);
        var holds = new NpgsqlBatchCommand("""
            SELECT reservation_id, state, rental_cost_fen, amount_fen, captured_fen, provider_id, stackable
            FROM voucher_holds WHERE voucher_id = @id
            """);
        holds.Parameters.AddWithValue("id", id);
        batch.BatchCommands.Add(voucher);
        batch.BatchCommands.Add(holds);
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }
        var row = ReadVoucher(reader);
        await reader.NextResultAsync(cancellationToken);
        var map = new Dictionary<string, HoldRow>(StringComparer.Ordinal);
        while (await reader.ReadAsync(cancellationToken))
        {
            map[reader.GetString(0)] = new HoldRow(reader.GetString(0), Enum.Parse<HoldState>(reader.GetString(1)), reader.GetInt64(2),
                reader.GetInt64(3), reader.GetInt64(4), reader.GetString(5), reader.GetBoolean(6));
        }
        return (row, map);
    }

    public static VoucherRow ReadVoucher(NpgsqlDataReader reader) => new(
        reader.GetString(0), reader.GetString(1), reader.GetString(2), Enum.Parse<VoucherState>(reader.GetString(3)),
        reader.GetInt64(4), reader.GetInt64(5), reader.GetInt64(6), reader.GetInt64(7), reader.GetInt32(8), reader.GetInt32(9),
        reader.GetBoolean(10), reader.GetFieldValue<DateTimeOffset>(11), reader.GetFieldValue<DateTimeOffset>(12),
        reader.IsDBNull(13) ? null : reader.GetFieldValue<DateTimeOffset>(13),
        reader.IsDBNull(14) ? null : reader.GetFieldValue<DateTimeOffset>(14),
        reader.IsDBNull(15) ? null : reader.GetFieldValue<DateTimeOffset>(15),
        reader.IsDBNull(16) ? null : StateJson.Deserialize<RdActivity>(reader.GetString(16)),
        reader.GetInt64(17),
        reader.IsDBNull(18) ? null : reader.GetInt32(18),
        reader.IsDBNull(19) ? null : reader.GetString(19),
        reader.GetFieldValue<string[]>(20));

    /// <summary>A guard that updates the voucher row to <paramref name="next"/> only if it is still at <paramref name="current"/>'s version.</summary>
    private static GuardedWrite Update(VoucherRow current, VoucherRow next) => new(w => $"""
        UPDATE vouchers SET state = {w.Parameter(next.State.ToString())}, held_fen = {w.Parameter(next.HeldFen)},
               captured_fen = {w.Parameter(next.CapturedFen)}, returned_fen = {w.Parameter(next.ReturnedFen)},
               registered_at = {w.Parameter(next.RegisteredAt, NpgsqlTypes.NpgsqlDbType.TimestampTz)},
               expires_at = {w.Parameter(next.ExpiresAt, NpgsqlTypes.NpgsqlDbType.TimestampTz)},
               ended_at = {w.Parameter(next.EndedAt, NpgsqlTypes.NpgsqlDbType.TimestampTz)},
               activity = {w.Parameter(next.Activity is null ? null : StateJson.Serialize(next.Activity), NpgsqlTypes.NpgsqlDbType.Text)}::jsonb,
               version = version + 1
        WHERE id = {w.Parameter(current.Id)} AND version = {w.Parameter(current.Version)}
        RETURNING id
        """);

    private async Task<VoucherRow> CommitAsync(GuardedWrite write, VoucherRow current, VoucherRow next, CancellationToken cancellationToken)
    {
        if (await CommitBatcher.RunAsync(writer, db, write.ToStatement(lane: current.TenantId)) != 1)
        {
            throw new StaleStateException("vouchers", current.Id, current.Version);
        }
        return next with { Version = current.Version + 1 };
    }

    public Task<VoucherRow> RegisterAsync(VoucherRow current, VoucherRow next, CancellationToken cancellationToken = default) =>
        CommitAsync(Update(current, next), current, next, cancellationToken);

    public Task<VoucherRow> HoldAsync(VoucherRow current, VoucherRow next, HoldRow hold, DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        var write = Update(current, next);
        AddHold(write, current, hold, now);
        return CommitAsync(write, current, next, cancellationToken);
    }

    /// <summary>
    /// The hold row and its ledger posting (available to held), written when the write's current guard matched: the
    /// voucher's own hold, or a market's fill (which moves <c>held_fen</c> in its own guard).
    /// </summary>
    public static void AddHold(GuardedWrite write, VoucherRow current, HoldRow hold, DateTimeOffset now)
    {
        write.Then($"""
            INSERT INTO voucher_holds (voucher_id, reservation_id, state, rental_cost_fen, amount_fen, provider_id, stackable, created_at, updated_at)
            SELECT {write.Parameter(current.Id)}, {write.Parameter(hold.ReservationId)}, 'Held', {write.Parameter(hold.RentalCostFen)}, {write.Parameter(hold.AmountFen)},
                   {write.Parameter(hold.ProviderId)}, {write.Parameter(hold.Stackable)}, {write.Parameter(now)}, {write.Parameter(now)}
            FROM {write.Guard}
            """);
        write.Post(LedgerPosting.Transfer($"hold:{current.Id}:{hold.ReservationId}", "hold",
            $"Hold for reservation {hold.ReservationId}", Accounts.VoucherAvailable(current.Id), Accounts.VoucherHeld(current.Id),
            hold.AmountFen, current.ProgramId, current.Id, hold.ReservationId), now);
    }

    /// <summary>The voucher row alone, as stored now.</summary>
    public async Task<VoucherRow?> LoadRowAsync(string id, CancellationToken cancellationToken = default)
    {
        await using var command = db.CreateCommand($"SELECT {Columns} FROM vouchers WHERE id = @id");
        command.Parameters.AddWithValue("id", id);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? ReadVoucher(reader) : null;
    }

    /// <summary>
    /// Captures part of a hold and releases the rest of it: back to the voucher while it is active, or to the program's
    /// budget once the voucher has ended (its hold outlived it only so that its rental could be settled).
    /// </summary>
    public Task<VoucherRow> CaptureAsync(VoucherRow current, VoucherRow next, HoldRow hold, long capturedFen, DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        var write = Update(current, next);
        SetHold(write, hold.ReservationId, HoldState.Captured, capturedFen, now);
        write.Post(LedgerPosting.Transfer($"capture:{current.Id}:{hold.ReservationId}", "capture",
            $"Voucher share of reservation {hold.ReservationId}", Accounts.VoucherHeld(current.Id), Accounts.VoucherSpent(current.Id),
            capturedFen, current.ProgramId, current.Id, hold.ReservationId), now);
        ReleaseRest(write, current, next, hold, hold.AmountFen - capturedFen, $"Unused hold of reservation {hold.ReservationId}", now);
        return CommitAsync(write, current, next, cancellationToken);
    }

    /// <summary>
    /// Releases part of a hold, keeping <paramref name="keepFen"/> of it held: the released part goes back to the voucher
    /// while it is active, or to the program's budget once it has ended.
    /// </summary>
    public Task<VoucherRow> TrimAsync(VoucherRow current, VoucherRow next, HoldRow hold, long keepFen, DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        var write = Update(current, next);
        write.Then($"""
            UPDATE voucher_holds SET amount_fen = {write.Parameter(keepFen)}, updated_at = {write.Parameter(now)}
            FROM g WHERE voucher_holds.voucher_id = g.id AND voucher_holds.reservation_id = {write.Parameter(hold.ReservationId)}
              AND voucher_holds.state = 'Held' AND voucher_holds.amount_fen = {write.Parameter(hold.AmountFen)}
            RETURNING 1
            """);
        ReleaseRest(write, current, next, hold, hold.AmountFen - keepFen,
            $"Hold of reservation {hold.ReservationId} reduced to {keepFen} fen: an outage took hours away", now, "trim", $":{keepFen}");
        return CommitAsync(write, current, next, cancellationToken);
    }

    /// <summary>Releases a whole hold: back to the voucher while it is active, or to the program's budget once it has ended.</summary>
    public Task<VoucherRow> ReleaseAsync(VoucherRow current, VoucherRow next, HoldRow hold, DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        var write = Update(current, next);
        SetHold(write, hold.ReservationId, HoldState.Released, 0, now);
        ReleaseRest(write, current, next, hold, hold.AmountFen, $"Hold of reservation {hold.ReservationId} released", now);
        return CommitAsync(write, current, next, cancellationToken);
    }

    /// <summary>
    /// Ends the voucher (lapse or expiry): returns its available value to the program's budget and records the return on
    /// the program, in one statement. Open holds stay: each is for a rental that ends by the expiry, and is settled from
    /// the voucher whenever its reservation settles.
    /// </summary>
    public Task<VoucherRow> EndAsync(VoucherRow current, VoucherRow next, DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        var write = Update(current, next);
        ReturnToProgram(write, current, next.ReturnedFen - current.ReturnedFen, $"return:{current.Id}", Accounts.VoucherAvailable(current.Id),
            $"Unspent value of voucher {current.Id} ({next.State.ToString().ToLowerInvariant()}) returned to the program", null, now);
        return CommitAsync(write, current, next, cancellationToken);
    }

    /// <param name="suffix">Makes the transaction id unique when one hold can be released in more than one part (trims).</param>
    private static void ReleaseRest(GuardedWrite write, VoucherRow current, VoucherRow next, HoldRow hold, long amountFen, string description,
        DateTimeOffset now, string kind = "release", string suffix = "")
    {
        if (next.ReturnedFen > current.ReturnedFen)
        {
            ReturnToProgram(write, current, amountFen, $"{(kind == "release" ? "return" : $"{kind}-return")}:{current.Id}:{hold.ReservationId}{suffix}",
                Accounts.VoucherHeld(current.Id), $"{description}, returned to the program: voucher {current.Id} has ended", hold.ReservationId, now);
            return;
        }
        write.Post(LedgerPosting.Transfer($"{kind}:{current.Id}:{hold.ReservationId}{suffix}", kind, description,
            Accounts.VoucherHeld(current.Id), Accounts.VoucherAvailable(current.Id), amountFen, current.ProgramId, current.Id, hold.ReservationId), now);
    }

    private static void ReturnToProgram(GuardedWrite write, VoucherRow current, long amountFen, string transactionId, string fromAccount,
        string description, string? reservationId, DateTimeOffset now)
    {
        if (amountFen <= 0)
        {
            return;
        }
        write.Then($"UPDATE programs SET returned_fen = returned_fen + {write.Parameter(amountFen)} FROM g WHERE programs.id = {write.Parameter(current.ProgramId)} RETURNING 1");
        write.Post(LedgerPosting.Transfer(transactionId, "return", description, fromAccount, Accounts.ProgramBudget(current.ProgramId), amountFen,
            current.ProgramId, current.Id, reservationId), now);
    }

    private static void SetHold(GuardedWrite write, string reservationId, HoldState state, long capturedFen, DateTimeOffset now) =>
        write.Then($"""
            UPDATE voucher_holds SET state = {write.Parameter(state.ToString())}, captured_fen = {write.Parameter(capturedFen)},
                   updated_at = {write.Parameter(now)}
            FROM g WHERE voucher_holds.voucher_id = g.id AND voucher_holds.reservation_id = {write.Parameter(reservationId)}
              AND voucher_holds.state = 'Held'
            RETURNING 1
            """);

    /// <summary>
    /// Other vouchers' live holds on a reservation: whether each allows stacking, and what it pays (its hold, or what it
    /// captured once settled), so a further voucher pays its share of what is left.
    /// </summary>
    public async Task<IReadOnlyList<(string VoucherId, bool Stackable, long FundedFen)>> OtherFundersAsync(string reservationId, string voucherId, CancellationToken cancellationToken = default)
    {
        await using var command = db.CreateCommand("""
            SELECT voucher_id, stackable, CASE WHEN state = 'Captured' THEN captured_fen ELSE amount_fen END FROM voucher_holds
            WHERE reservation_id = @r AND voucher_id <> @v AND state <> 'Released'
            """);
        command.Parameters.AddWithValue("r", reservationId);
        command.Parameters.AddWithValue("v", voucherId);
        var result = new List<(string, bool, long)>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            result.Add((reader.GetString(0), reader.GetBoolean(1), reader.GetInt64(2)));
        }
        return result;
    }
}
