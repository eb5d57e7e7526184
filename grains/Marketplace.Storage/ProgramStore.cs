using Npgsql;

namespace Marketplace.Storage;

/// <summary>A stored program. <see cref="BudgetFen"/> is its budget now (the definition's plus every raise).</summary>
public sealed record ProgramRow(string Id, ProgramDefinition Definition, string DefinitionHash, long IssuedFen, long ReturnedFen, DateTimeOffset CreatedAt,
    long BudgetFen, DateTimeOffset? ClosedAt, string? CloseReason);

/// <summary>What a claim asks the database to do, once eligibility has been checked.</summary>
public sealed record ClaimRow(
    string VoucherId,
    string ProgramId,
    string TenantId,
    TenantKind TenantKind,
    string TenantProvince,
    string ClaimKey,
    long WantedFen,
    int CoverageBasisPoints,
    int ValidityDays,
    int? ValidityMonths,
    bool Stackable,
    bool Exclusive,
    DateTimeOffset ClaimedAt,
    DateTimeOffset RegistrationDeadline,
    string? TenantCreditCode = null,
    IReadOnlyList<string>? RelatedParties = null);

public enum ClaimStatus
{
    Issued,
    BudgetExhausted,
    OpenVoucherExists,
    AlreadyClaimed,
}

public sealed class ProgramStore(NpgsqlDataSource db)
{
    public async Task<ProgramRow?> LoadAsync(string id, CancellationToken cancellationToken = default)
    {
        await using var command = db.CreateCommand(
            "SELECT definition::text, definition_hash, issued_fen, returned_fen, created_at, budget_fen, closed_at, close_reason FROM programs WHERE id = @id");
        command.Parameters.AddWithValue("id", id);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }
        return new ProgramRow(id, StateJson.Deserialize<ProgramDefinition>(reader.GetString(0)), reader.GetString(1),
            reader.GetInt64(2), reader.GetInt64(3), reader.GetFieldValue<DateTimeOffset>(4), reader.GetInt64(5),
            reader.IsDBNull(6) ? null : reader.GetFieldValue<DateTimeOffset>(6), reader.IsDBNull(7) ? null : reader.GetString(7));
    }

    /// <summary>
    /// Raises the budget of an open program by <paramref name="amountFen"/>, funded like the first budget; false when the
    /// program is closed or the budget would pass <paramref name="maxBudgetFen"/> (nothing is written then).
    /// </summary>
    public async Task<bool> RaiseBudgetAsync(string id, string raiseId, long amountFen, long maxBudgetFen, string reason, DateTimeOffset now)
    {
        var write = new GuardedWrite(w => $"""
            UPDATE programs SET budget_fen = budget_fen + {w.Parameter(amountFen)}
            WHERE id = {w.Parameter(id)} AND closed_at IS NULL AND budget_fen + {w.Parameter(amountFen)} <= {w.Parameter(maxBudgetFen)}
            RETURNING id
            """);
        write.Post(LedgerPosting.Transfer($"fund:{id}:{raiseId}", "fund", reason,
            Accounts.ProgramFunding(id), Accounts.ProgramBudget(id), amountFen, programId: id), now);
        return await CommitBatcher.ExecuteAloneAsync(db, write.ToStatement()) == 1;
    }

    /// <summary>Closes the program's claims at <paramref name="at"/>; false when it was closed already.</summary>
    public async Task<bool> CloseAsync(string id, DateTimeOffset at, string reason)
    {
        await using var command = db.CreateCommand("UPDATE programs SET closed_at = @at, close_reason = @r WHERE id = @id AND closed_at IS NULL");
        command.Parameters.AddWithValue("id", id);
        command.Parameters.AddWithValue("at", at);
        command.Parameters.AddWithValue("r", reason);
        return await command.ExecuteNonQueryAsync() == 1;
    }

    /// <summary>Creates the program and posts its budget; returns false if a program with this id already exists.</summary>
    public async Task<bool> CreateAsync(string id, ProgramDefinition definition, string definitionHash, DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        var write = new GuardedWrite(w => $"""
            INSERT INTO programs (id, name, province, definition, definition_hash, budget_fen, created_at)
            VALUES ({w.Parameter(id)}, {w.Parameter(definition.Name)}, {w.Parameter(definition.Province)},
                    {w.Parameter(StateJson.Serialize(definition))}::jsonb, {w.Parameter(definitionHash)},
                    {w.Parameter(definition.BudgetFen)}, {w.Parameter(now)})
            ON CONFLICT (id) DO NOTHING RETURNING id
            """);
        write.Post(LedgerPosting.Transfer($"fund:{id}", "fund", $"Budget of {definition.Name}",
            Accounts.ProgramFunding(id), Accounts.ProgramBudget(id), definition.BudgetFen, programId: id), now);
        return await CommitBatcher.ExecuteAloneAsync(db, write.ToStatement()) == 1;
    }

    /// <summary>The programme's notices that name a company, in the order they take effect.</summary>
    public async Task<IReadOnlyList<ProviderNotice>> NoticesAsync(string programId, CancellationToken cancellationToken = default)
    {
        await using var command = db.CreateCommand("""
            SELECT batch_id, credit_code, approved, effective_from, provider_id FROM program_provider_notices
            WHERE program_id = @p AND credit_code IS NOT NULL ORDER BY effective_from, published_at, batch_id
            """);
        command.Parameters.AddWithValue("p", programId);
        var notices = new List<ProviderNotice>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            notices.Add(new ProviderNotice(reader.GetString(0), reader.GetString(1), reader.GetBoolean(2), reader.GetFieldValue<DateTimeOffset>(3),
                reader.IsDBNull(4) ? null : reader.GetString(4)));
        }
        return notices;
    }

    /// <summary>Providers named by notices published before notices named companies, whose company is not known yet.</summary>
    public async Task<IReadOnlyList<string>> UnresolvedNoticeProvidersAsync(string programId, CancellationToken cancellationToken = default)
    {
        await using var command = db.CreateCommand("""
            SELECT DISTINCT provider_id FROM program_provider_notices WHERE program_id = @p AND credit_code IS NULL ORDER BY provider_id
            """);
        command.Parameters.AddWithValue("p", programId);
        var providers = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            providers.Add(reader.GetString(0));
        }
        return providers;
    }

    /// <summary>Names the company of a provider's older notices (it is the code the provider registered).</summary>
    public async Task ResolveNoticesAsync(string programId, string providerId, string creditCode, CancellationToken cancellationToken = default)
    {
        await using var command = db.CreateCommand("""
            UPDATE program_provider_notices n SET credit_code = @c
            WHERE n.program_id = @p AND n.provider_id = @x AND n.credit_code IS NULL
              -- Two old registrations may share the code: the batch's notice for the company already named stays the one.
              AND NOT EXISTS (SELECT 1 FROM program_provider_notices o
                              WHERE o.program_id = n.program_id AND o.batch_id = n.batch_id AND o.credit_code = @c)
            """);
        command.Parameters.AddWithValue("p", programId);
        command.Parameters.AddWithValue("x", providerId);
        command.Parameters.AddWithValue("c", creditCode);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Stores the notice; returns the notice already stored for the same batch and company, if any.</summary>
    public async Task<ProviderNotice?> AddNoticeAsync(string programId, ProviderNotice notice, DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        await using var command = db.CreateCommand("""
            WITH ins AS (
                INSERT INTO program_provider_notices (program_id, batch_id, credit_code, provider_id, approved, effective_from, published_at)
                VALUES (@p, @b, @c, @x, @a, @e, @now) ON CONFLICT DO NOTHING RETURNING 1)
            SELECT approved, effective_from, credit_code, provider_id FROM program_provider_notices
            WHERE program_id = @p AND batch_id = @b AND (credit_code = @c OR provider_id = @x) AND NOT EXISTS (SELECT 1 FROM ins)
            ORDER BY credit_code = @c DESC NULLS LAST
            LIMIT 1
            """);
        command.Parameters.AddWithValue("p", programId);
        command.Parameters.AddWithValue("b", notice.BatchId);
        command.Parameters.AddWithValue("c", notice.CreditCode);
        command.Parameters.Add(new NpgsqlParameter("x", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)notice.ProviderId ?? DBNull.Value });
        command.Parameters.AddWithValue("a", notice.Approved);
        command.Parameters.AddWithValue("e", notice.EffectiveFrom);
        command.Parameters.AddWithValue("now", now);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }
        return notice with
        {
            Approved = reader.GetBoolean(0),
            EffectiveFrom = reader.GetFieldValue<DateTimeOffset>(1),
            CreditCode = reader.IsDBNull(2) ? notice.CreditCode : reader.GetString(2),
            ProviderId = reader.IsDBNull(3) ? null : reader.GetString(3),
        };
    }

    public async Task<ProgramTotals> TotalsAsync(string programId, CancellationToken cancellationToken = default)
    {
        await using var command = db.CreateCommand("""
            SELECT p.issued_fen, p.returned_fen,
                   coalesce((SELECT sum(held_fen) FROM vouchers WHERE program_id = p.id), 0)::bigint,
                   coalesce((SELECT sum(captured_fen) FROM vouchers WHERE program_id = p.id), 0)::bigint
            FROM programs p WHERE p.id = @p
            """);
        command.Parameters.AddWithValue("p", programId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? new ProgramTotals(reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3))
            : new ProgramTotals(0, 0, 0, 0);
    }

    /// <summary>
    /// Issues the voucher: takes min(wanted, budget left) from the program, inserts the voucher and posts the claim,
    /// in one transaction. The program row is locked for the claim, so concurrent claims never overspend the budget
    /// (and the table's check constraint would refuse it if they did).
    /// </summary>
    public async Task<(ClaimStatus Status, long FaceValueFen)> ClaimAsync(ClaimRow claim, CancellationToken cancellationToken = default)
    {
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        long remaining;
        await using (var select = new NpgsqlCommand(
            "SELECT budget_fen - issued_fen + returned_fen FROM programs WHERE id = @p FOR UPDATE", connection, transaction))
        {
            select.Parameters.AddWithValue("p", claim.ProgramId);
            remaining = (long)(await select.ExecuteScalarAsync(cancellationToken) ?? 0L);
        }
        var face = Math.Min(claim.WantedFen, remaining);
        if (face <= 0)
        {
            return (ClaimStatus.BudgetExhausted, 0);
        }

        var write = new GuardedWrite(w => $"""
            UPDATE programs SET issued_fen = issued_fen + {w.Parameter(face)} WHERE id = {w.Parameter(claim.ProgramId)} RETURNING id
            """);
        write.Then($"""
            INSERT INTO vouchers (id, program_id, tenant_id, tenant_kind, tenant_province, claim_key, state, face_value_fen,
                                  coverage_bps, validity_days, validity_months, stackable, exclusive, claimed_at, registration_deadline, version,
                                  tenant_credit_code, related_parties)
            SELECT {write.Parameter(claim.VoucherId)}, g.id, {write.Parameter(claim.TenantId)}, {write.Parameter(claim.TenantKind.ToString())},
                   {write.Parameter(claim.TenantProvince)}, {write.Parameter(claim.ClaimKey)}, 'Claimed', {write.Parameter(face)},
                   {write.Parameter(claim.CoverageBasisPoints)}, {write.Parameter(claim.ValidityDays)},
                   {write.Parameter(claim.ValidityMonths, NpgsqlTypes.NpgsqlDbType.Integer)}, {write.Parameter(claim.Stackable)},
                   {write.Parameter(claim.Exclusive)}, {write.Parameter(claim.ClaimedAt)}, {write.Parameter(claim.RegistrationDeadline)}, 1,
                   {write.Parameter(claim.TenantCreditCode, NpgsqlTypes.NpgsqlDbType.Text)},
                   {write.Parameter((claim.RelatedParties ?? []).ToArray(), NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Text)}
            FROM g
            """);
        write.Post(LedgerPosting.Transfer($"claim:{claim.VoucherId}", "claim", $"Voucher {claim.VoucherId} issued to tenant {claim.TenantId}",
            Accounts.ProgramBudget(claim.ProgramId), Accounts.VoucherAvailable(claim.VoucherId), face,
            programId: claim.ProgramId, voucherId: claim.VoucherId), claim.ClaimedAt);
        try
        {
            await write.ExecuteAsync(connection, transaction, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            return (ClaimStatus.Issued, face);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            return (e.ConstraintName is "vouchers_one_open_per_tenant" or "vouchers_one_open_per_company" ? ClaimStatus.OpenVoucherExists : ClaimStatus.AlreadyClaimed, 0);
        }
    }
}
