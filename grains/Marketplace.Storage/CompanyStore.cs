using Npgsql;

namespace Marketplace.Storage;

/// <summary>Who holds a credit code: a tenant or a provider.</summary>
public enum CompanyParty
{
    Tenant,
    Provider,
}

/// <summary>The marketplace-wide register of credit codes: one company, one tenant and one provider at most.</summary>
public sealed class CompanyStore(NpgsqlDataSource db)
{
    private static string Name(CompanyParty party) => party == CompanyParty.Tenant ? "tenant" : "provider";

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
