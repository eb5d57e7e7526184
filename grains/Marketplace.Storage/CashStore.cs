using Npgsql;

namespace Marketplace.Storage;

/// <summary>
/// A company's prepaid cash (rule 8, migration 0117): the <c>tenant_cash</c> row a fill checks and holds in its own guarded
/// statement, the <c>cash_holds</c> of its reservations, and the ledger accounts that stay the truth of both
/// (<see cref="Accounts.TenantCash"/>, <see cref="Accounts.TenantCashHeld"/>, <see cref="Accounts.PaymentsExternal"/>).
/// </summary>
public sealed class CashStore(NpgsqlDataSource db, CommitBatcher? writer = null)
{
    public const string TopUpKind = "cash-top-up";
    public const string WithdrawalKind = "cash-withdrawal";
    public const string HoldKind = "cash-hold";

    public static string TopUpId(string paymentReference) => $"{TopUpKind}:{paymentReference}";

    public static string WithdrawalId(string tenantId, string key) => $"{WithdrawalKind}:{tenantId}:{key}";

    /// <summary>
    /// Money received for a company: its available cash grows, from the external counter-account. False when a payment
    /// with this reference was posted already (see <see cref="FindPaymentAsync"/>).
    /// </summary>
    public async Task<bool> TopUpAsync(string tenantId, long amountFen, string paymentReference, DateTimeOffset now)
    {
        var id = TopUpId(paymentReference);
        var write = new GuardedWrite(w => $"SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM ledger_transactions WHERE id = {w.Parameter(id)})");
        write.Then($"""
            INSERT INTO tenant_cash (tenant_id, available_fen, held_fen, version)
            SELECT {write.Parameter(tenantId)}, {write.Parameter(amountFen)}, 0, 1 FROM {write.Guard}
            ON CONFLICT (tenant_id) DO UPDATE SET available_fen = tenant_cash.available_fen + EXCLUDED.available_fen, version = tenant_cash.version + 1
            RETURNING 1
            """);
        write.Post(LedgerPosting.Transfer(id, TopUpKind, $"Top-up {paymentReference} for tenant {tenantId}",
            Accounts.PaymentsExternal, Accounts.TenantCash(tenantId), amountFen), now);
        return await RunOnceAsync(write, tenantId);
    }

    /// <summary>Pays out of a company's available cash (never what is held). False when there is not enough or the key was used.</summary>
    public async Task<bool> WithdrawAsync(string tenantId, long amountFen, string key, DateTimeOffset now)
    {
        var id = WithdrawalId(tenantId, key);
        var write = new GuardedWrite(w => $"""
            UPDATE tenant_cash SET available_fen = available_fen - {w.Parameter(amountFen)}, version = version + 1
            WHERE tenant_id = {w.Parameter(tenantId)} AND available_fen >= {w.Parameter(amountFen)}
              AND NOT EXISTS (SELECT 1 FROM ledger_transactions WHERE id = {w.Parameter(id)})
            RETURNING 1
            """);
        write.Post(LedgerPosting.Transfer(id, WithdrawalKind, $"Withdrawal {key} by tenant {tenantId}",
            Accounts.TenantCash(tenantId), Accounts.PaymentsExternal, amountFen), now);
        return await RunOnceAsync(write, tenantId);
    }

    private async Task<bool> RunOnceAsync(GuardedWrite write, string tenantId)
    {
        try
        {
            return await CommitBatcher.RunAsync(writer, db, write.ToStatement(lane: tenantId)) == 1;
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            return false; // the same payment posted at the same moment by another attempt
        }
    }

    /// <summary>A top-up or withdrawal as posted, or null if there is none with this ledger transaction id.</summary>
    public async Task<CashPayment?> FindPaymentAsync(string transactionId, CancellationToken cancellationToken = default)
    {
        await using var command = db.CreateCommand("""
            SELECT t.kind, t.posted_at, e.account, e.amount_fen
            FROM ledger_transactions t JOIN ledger_entries e ON e.transaction_id = t.id
            WHERE t.id = @id AND e.account LIKE 'tenant:%:cash'
            """);
        command.Parameters.AddWithValue("id", transactionId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }
        var kind = reader.GetString(0);
        var account = reader.GetString(2);
        var tenantId = account["tenant:".Length..^":cash".Length];
        var reference = transactionId[(kind.Length + 1)..];
        if (kind == WithdrawalKind)
        {
            reference = reference[(tenantId.Length + 1)..];
        }
        return new CashPayment(tenantId, kind, reference, Math.Abs(reader.GetInt64(3)), reader.GetFieldValue<DateTimeOffset>(1));
    }

    /// <summary>What a company has available and held (nothing before its first top-up), with its latest movements.</summary>
    public async Task<CashBalance> ReadAsync(string tenantId, int movements, long maxUnsettledFen, CancellationToken cancellationToken = default)
    {
        await using var batch = db.CreateBatch();
        var row = new NpgsqlBatchCommand("SELECT available_fen, held_fen, unsettled_fen FROM tenant_cash WHERE tenant_id = @t");
        row.Parameters.AddWithValue("t", tenantId);
        var moves = new NpgsqlBatchCommand("""
            SELECT t.id, t.kind, t.description,
                   coalesce(sum(e.amount_fen) FILTER (WHERE e.account = @cash), 0)::bigint,
                   coalesce(sum(e.amount_fen) FILTER (WHERE e.account = @held), 0)::bigint,
                   t.reservation_id, t.posted_at
            FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id
            WHERE e.account IN (@cash, @held)
            GROUP BY t.id, t.kind, t.description, t.reservation_id, t.posted_at, t.seq
            ORDER BY t.seq DESC LIMIT @n
            """);
        moves.Parameters.AddWithValue("cash", Accounts.TenantCash(tenantId));
        moves.Parameters.AddWithValue("held", Accounts.TenantCashHeld(tenantId));
        moves.Parameters.AddWithValue("n", movements);
        batch.BatchCommands.Add(row);
        batch.BatchCommands.Add(moves);
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        long available = 0, held = 0, unsettled = 0;
        if (await reader.ReadAsync(cancellationToken))
        {
            available = reader.GetInt64(0);
            held = reader.GetInt64(1);
            unsettled = reader.GetInt64(2);
        }
        await reader.NextResultAsync(cancellationToken);
        var list = new List<CashMovement>();
        while (await reader.ReadAsync(cancellationToken))
        {
            list.Add(new CashMovement(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetInt64(3), reader.GetInt64(4),
                reader.IsDBNull(5) ? null : reader.GetString(5), reader.GetFieldValue<DateTimeOffset>(6)));
        }
        return new CashBalance(tenantId, available, held, list, unsettled, maxUnsettledFen);
    }

    /// <summary>
    /// For a fill that also writes a voucher: a guard that the company has <paramref name="amountFen"/> available and room
    /// under its cap for <paramref name="costFen"/> more unsettled, locking its row until the commit, so the hold written
    /// after the voucher's guard (<see cref="Hold"/>) cannot then fail.
    /// </summary>
    public static void LockForHold(GuardedWrite write, string tenantId, long amountFen, long costFen, long maxUnsettledFen) =>
        write.Narrow(g => $"""
            SELECT 1 FROM {g}, tenant_cash c
            WHERE c.tenant_id = {write.Parameter(tenantId)} AND {Covers("c", write, amountFen, costFen, maxUnsettledFen)}
            FOR NO KEY UPDATE OF c
            """);

    /// <summary>The company's row (<paramref name="row"/>) has the hold available and room under the cap for the cost.</summary>
    private static string Covers(string row, GuardedWrite write, long amountFen, long costFen, long maxUnsettledFen) =>
        $"{row}.available_fen >= {write.Parameter(amountFen)} AND {row}.unsettled_fen + {write.Parameter(costFen)} <= {write.Parameter(maxUnsettledFen)}";

    /// <summary>
    /// Rule 8: holds a reservation's cash at its fill, as a guard (the company has it available and stays under its cap of
    /// unsettled holdings with the reservation's <paramref name="costFen"/>), its <c>cash_holds</c> row and the ledger
    /// posting from available to held.
    /// </summary>
    public static void Hold(GuardedWrite write, string tenantId, string reservationId, long amountFen, long costFen, long maxUnsettledFen, DateTimeOffset now)
    {
        write.Narrow(g => $"""
            UPDATE tenant_cash SET available_fen = tenant_cash.available_fen - {write.Parameter(amountFen)},
                   held_fen = tenant_cash.held_fen + {write.Parameter(amountFen)},
                   unsettled_fen = tenant_cash.unsettled_fen + {write.Parameter(costFen)}, version = tenant_cash.version + 1
            FROM {g}
            WHERE tenant_cash.tenant_id = {write.Parameter(tenantId)} AND {Covers("tenant_cash", write, amountFen, costFen, maxUnsettledFen)}
            RETURNING 1
            """);
        write.Then($"""
            INSERT INTO cash_holds (reservation_id, tenant_id, state, amount_fen, captured_fen, cost_fen, created_at, updated_at)
            SELECT {write.Parameter(reservationId)}, {write.Parameter(tenantId)}, 'Held', {write.Parameter(amountFen)}, 0, {write.Parameter(costFen)}, {write.Parameter(now)}, {write.Parameter(now)}
            FROM {write.Guard}
            """);
        write.Post(LedgerPosting.Transfer($"{HoldKind}:{reservationId}", HoldKind, $"Cash held for reservation {reservationId}",
            Accounts.TenantCash(tenantId), Accounts.TenantCashHeld(tenantId), amountFen, reservationId: reservationId), now);
    }

    /// <summary>What is held for a reservation now, or null when nothing is (a reservation filled before cash was prepaid, or closed).</summary>
    public async Task<long?> HeldForAsync(string reservationId, CancellationToken cancellationToken = default)
    {
        await using var command = db.CreateCommand("SELECT amount_fen FROM cash_holds WHERE reservation_id = @r AND state = 'Held'");
        command.Parameters.AddWithValue("r", reservationId);
        return await command.ExecuteScalarAsync(cancellationToken) is long held ? held : null;
    }

    /// <summary>
    /// Closes a reservation's cash hold of <paramref name="heldFen"/> in one statement with its ledger posting:
    /// <paramref name="capturedFen"/> of it goes to the provider (rent, or a cancellation charge), the rest back to the
    /// company's available cash, plus <paramref name="refundFen"/> the provider pays back for an outage. The posting's
    /// company entries are added here, from the same figures as the row's change; <paramref name="posting"/> brings the
    /// others (the provider's side, a voucher's, what the company still owes). The reservation's cost leaves the company's
    /// unsettled holdings. False when the hold was closed already (a repeat).
    /// </summary>
    public async Task<bool> CloseHoldAsync(string reservationId, string tenantId, long heldFen, long capturedFen, long refundFen, bool captured,
        LedgerPosting posting, DateTimeOffset now)
    {
        var write = new GuardedWrite(w => $"""
            UPDATE cash_holds SET state = {w.Parameter(captured ? "Captured" : "Released")}, captured_fen = {w.Parameter(capturedFen)}, updated_at = {w.Parameter(now)}
            WHERE reservation_id = {w.Parameter(reservationId)} AND state = 'Held' AND amount_fen = {w.Parameter(heldFen)}
            RETURNING cost_fen
            """);
        write.Then($"""
            UPDATE tenant_cash SET held_fen = tenant_cash.held_fen - {write.Parameter(heldFen)}, unsettled_fen = tenant_cash.unsettled_fen - {write.Guard}.cost_fen,
                   available_fen = tenant_cash.available_fen + {write.Parameter(checked(heldFen - capturedFen + refundFen))}, version = tenant_cash.version + 1
            FROM {write.Guard} WHERE tenant_cash.tenant_id = {write.Parameter(tenantId)}
            RETURNING 1
            """);
        write.Post(posting with
        {
            Entries = [.. posting.Entries, (Accounts.TenantCashHeld(tenantId), -heldFen), (Accounts.TenantCash(tenantId), checked(heldFen - capturedFen + refundFen))],
        }, now);
        return await RunOnceAsync(write, tenantId);
    }
}
