using Npgsql;

namespace Marketplace.Storage;

/// <summary>Who holds a credit code: a tenant or a provider.</summary>
public enum CompanyParty
{
    Tenant,
    Provider,
}

/// <summary>A registration as the programme office's queue shows it.</summary>
public sealed record CompanyRow(CompanyParty Party, string PartyId, string Name, string? CreditCode, CompanyStatus Status, string RegistrationJson,
    DateTimeOffset UpdatedAt);

/// <summary>The marketplace-wide register of credit codes (one company, one tenant and one provider at most) and the review queue.</summary>
public sealed class CompanyStore(NpgsqlDataSource db)
{
    public static string Name(CompanyParty party) => party == CompanyParty.Tenant ? "tenant" : "provider";

    /// <summary>Stores the registration and its verification state for the regulator's queue.</summary>
    public async Task SaveAsync(CompanyRow row, CancellationToken cancellationToken = default)
    {
        await using var command = db.CreateCommand("""
            INSERT INTO companies (party, party_id, name, credit_code, state, revision, registration, changes, reason, reviewed_by, reviewed_at, updated_at)
            VALUES (@party, @id, @name, @code, @state, @revision, @registration::jsonb, @changes::jsonb, @reason, @reviewedBy, @reviewedAt, @now)
            ON CONFLICT (party, party_id) DO UPDATE SET name = EXCLUDED.name, credit_code = EXCLUDED.credit_code, state = EXCLUDED.state,
                revision = EXCLUDED.revision, registration = EXCLUDED.registration, changes = EXCLUDED.changes, reason = EXCLUDED.reason,
                reviewed_by = EXCLUDED.reviewed_by, reviewed_at = EXCLUDED.reviewed_at, updated_at = EXCLUDED.updated_at
            WHERE companies.revision <= EXCLUDED.revision
            """);
        var status = row.Status;
        command.Parameters.AddWithValue("party", Name(row.Party));
        command.Parameters.AddWithValue("id", row.PartyId);
        command.Parameters.AddWithValue("name", row.Name);
        command.Parameters.Add(new NpgsqlParameter("code", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)row.CreditCode ?? DBNull.Value });
        command.Parameters.AddWithValue("state", status.State.ToString());
        command.Parameters.AddWithValue("revision", status.Revision);
        command.Parameters.AddWithValue("registration", row.RegistrationJson);
        command.Parameters.AddWithValue("changes", StateJson.Serialize(status.Changes));
        command.Parameters.Add(new NpgsqlParameter("reason", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)status.Reason ?? DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter("reviewedBy", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)status.ReviewedBy ?? DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter("reviewedAt", NpgsqlTypes.NpgsqlDbType.TimestampTz) { Value = (object?)status.ReviewedAt ?? DBNull.Value });
        command.Parameters.AddWithValue("now", row.UpdatedAt);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// Records that <paramref name="partyId"/> holds <paramref name="creditCode"/> (or no code, when null), releasing the
    /// code it held before. Returns the id of the other party that already holds the code, or null when it is now this one's.
    /// </summary>
    public async Task<string?> HoldAsync(CompanyParty party, string partyId, string? creditCode, DateTimeOffset now,
        CancellationToken cancellationToken = default)
    {
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using (var release = new NpgsqlCommand(
            "DELETE FROM company_credit_codes WHERE party = @party AND party_id = @id AND credit_code IS DISTINCT FROM @code", connection, transaction))
        {
            release.Parameters.AddWithValue("party", Name(party));
            release.Parameters.AddWithValue("id", partyId);
            release.Parameters.Add(new NpgsqlParameter("code", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)creditCode ?? DBNull.Value });
            await release.ExecuteNonQueryAsync(cancellationToken);
        }
        string? holder = null;
        if (creditCode is not null)
        {
            await using (var hold = new NpgsqlCommand("""
                INSERT INTO company_credit_codes (party, credit_code, party_id, registered_at) VALUES (@party, @code, @id, @now)
                ON CONFLICT (party, credit_code) DO NOTHING
                """, connection, transaction))
            {
                hold.Parameters.AddWithValue("party", Name(party));
                hold.Parameters.AddWithValue("code", creditCode);
                hold.Parameters.AddWithValue("id", partyId);
                hold.Parameters.AddWithValue("now", now);
                await hold.ExecuteNonQueryAsync(cancellationToken);
            }
            // A statement of its own, so it sees a registration that committed while the insert waited for it.
            await using var read = new NpgsqlCommand(
                "SELECT party_id FROM company_credit_codes WHERE party = @party AND credit_code = @code", connection, transaction);
            read.Parameters.AddWithValue("party", Name(party));
            read.Parameters.AddWithValue("code", creditCode);
            var current = (string?)await read.ExecuteScalarAsync(cancellationToken);
            holder = current is null || current == partyId ? null : current;
        }
        if (holder is not null)
        {
            await transaction.RollbackAsync(cancellationToken);
            return holder;
        }
        await transaction.CommitAsync(cancellationToken);
        return null;
    }
}
