using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Marketplace.Storage;

/// <summary>One seal that does not hold, as <c>ledger_verify</c> finds it (no sequence number: the posting was never sealed).</summary>
public sealed record ChainProblem(string Chain, long? ChainSequence, string TransactionId, string Problem);

/// <summary>The answer to "is the ledger as it was sealed?" for one programme's chain, or every chain.</summary>
public sealed record ChainVerification(string? ProgramId, bool Intact, long SealsChecked, IReadOnlyList<ChainProblem> Problems, DateTimeOffset CheckedAt);

/// <summary>A seal recorded earlier (an evidence pack's chain head): its number in the chain and its hash in hexadecimal.</summary>
public sealed record KnownSeal(long Sequence, string Hash);

/// <summary>One ledger transaction's place in its programme's hash chain, with the text its hash covers.</summary>
public sealed record ChainSeal(string TransactionId, string Chain, long ChainSequence, string PrevHash, string Hash, string CanonicalText);

/// <summary>
/// The ledger's hash chain (migration 0109 defines the hash): sealing what was posted, verifying the chains against the
/// rows, and reading the seals of a voucher's transactions for its evidence pack.
/// </summary>
public sealed class LedgerChain(NpgsqlDataSource db)
{
    /// <summary>Postings sealed per call of <c>ledger_seal</c>: one short transaction each, so a backlog never holds the lock long.</summary>
    public const int SealBatch = 1000;

    /// <summary>The chain of postings that belong to no programme (rentals paid wholly in cash).</summary>
    public const string CashChain = "";

    /// <summary>Seals everything posted so far; returns how many postings it sealed.</summary>
    public async Task<int> SealAsync(CancellationToken cancellationToken = default)
    {
        var total = 0;
        while (true)
        {
            await using var command = db.CreateCommand("SELECT ledger_seal(@n)");
            command.Parameters.AddWithValue("n", SealBatch);
            var sealed_ = (int)(await command.ExecuteScalarAsync(cancellationToken))!;
            total += sealed_;
            if (sealed_ < SealBatch)
            {
                return total;
            }
        }
    }

    /// <summary>
    /// Seals what is waiting, then walks the programme's chain (every chain when null) from its genesis; with
    /// <paramref name="known"/>, also checks that the chain still holds that seal, so a chain rewritten from some point on
    /// (consistent with itself, but not with what was handed out before) shows too.
    /// </summary>
    public async Task<ChainVerification> VerifyAsync(string? programId, KnownSeal? known, TimeProvider clock, CancellationToken cancellationToken = default)
    {
        await SealAsync(cancellationToken);
        await using var batch = db.CreateBatch();
        var problems = new NpgsqlBatchCommand("SELECT chain, chain_seq, transaction_id, problem FROM ledger_verify(@c)");
        problems.Parameters.AddWithValue("c", NpgsqlTypes.NpgsqlDbType.Text, (object?)programId ?? DBNull.Value);
        var count = new NpgsqlBatchCommand("SELECT count(*) FROM ledger_seals WHERE @c::text IS NULL OR chain = @c");
        count.Parameters.AddWithValue("c", NpgsqlTypes.NpgsqlDbType.Text, (object?)programId ?? DBNull.Value);
        batch.BatchCommands.Add(problems);
        batch.BatchCommands.Add(count);
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        var found = new List<ChainProblem>();
        while (await reader.ReadAsync(cancellationToken))
        {
            found.Add(new ChainProblem(reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetInt64(1), reader.GetString(2), reader.GetString(3)));
        }
        await reader.NextResultAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        var checkedSeals = reader.GetInt64(0);
        await reader.DisposeAsync();
        if (programId is not null && known is not null && await SealAtAsync(programId, known.Sequence, cancellationToken) is var (transactionId, hash)
            && hash != known.Hash)
        {
            found.Add(new ChainProblem(programId, known.Sequence, transactionId,
                $"the chain no longer holds seal {known.Sequence} as recorded earlier: it was rewritten from there or before"));
        }
        return new ChainVerification(programId, found.Count == 0, checkedSeals, found, clock.GetUtcNow());
    }

    /// <summary>The transaction and hash at a place in a chain; empty strings when the chain is not that long.</summary>
    private async Task<(string TransactionId, string Hash)> SealAtAsync(string chain, long sequence, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand("SELECT transaction_id, encode(hash, 'hex') FROM ledger_seals WHERE chain = @c AND chain_seq = @s");
        command.Parameters.AddWithValue("c", chain);
        command.Parameters.AddWithValue("s", sequence);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? (reader.GetString(0), reader.GetString(1)) : ("", "");
    }

    /// <summary>The seals of the voucher's ledger transactions, in the order they were posted.</summary>
    public async Task<IReadOnlyList<ChainSeal>> SealsOfVoucherAsync(string voucherId, CancellationToken cancellationToken = default)
    {
        await SealAsync(cancellationToken);
        await using var command = db.CreateCommand("""
            SELECT s.transaction_id, s.chain, s.chain_seq, encode(s.prev_hash, 'hex'), encode(s.hash, 'hex'), ledger_canonical(s.transaction_id)
            FROM ledger_transactions t JOIN ledger_seals s ON s.transaction_id = t.id
            WHERE t.voucher_id = @v ORDER BY t.seq
            """);
        command.Parameters.AddWithValue("v", voucherId);
        var seals = new List<ChainSeal>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            seals.Add(new ChainSeal(reader.GetString(0), reader.GetString(1), reader.GetInt64(2), reader.GetString(3), reader.GetString(4), reader.GetString(5)));
        }
        return seals;
    }

    /// <summary>The last seal of a chain (its sequence number and hash), or null for a chain with none yet.</summary>
    public async Task<(long Sequence, string Hash)?> HeadAsync(string chain, CancellationToken cancellationToken = default)
    {
        await using var command = db.CreateCommand(
            "SELECT chain_seq, encode(hash, 'hex') FROM ledger_seals WHERE chain = @c ORDER BY chain_seq DESC LIMIT 1");
        command.Parameters.AddWithValue("c", chain);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? (reader.GetInt64(0), reader.GetString(1)) : null;
    }
}

/// <summary>Seals new ledger postings into their chains every few seconds (the evidence pack and verification also seal first).</summary>
public sealed class LedgerSealer(LedgerChain chain, ILogger<LedgerSealer> logger) : BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(2);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await chain.SealAsync(stoppingToken);
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                // The database may be restarting: what waits is sealed on a later tick.
                logger.LogWarning(e, "Sealing the ledger failed; retrying in {Interval}", Interval);
            }
        }
    }
}
