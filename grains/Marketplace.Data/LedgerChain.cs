using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Marketplace.Data;

/// <summary>One seal that does not hold, as <c>ledger_verify</c> finds it (no sequence number: the posting was never sealed).</summary>
public sealed record ChainProblem(string Chain, long? ChainSequence, string TransactionId, string Problem);

/// <summary>The answer to "is the ledger as it was sealed?" for one programme's chain, or every chain.</summary>
public sealed record ChainVerification(string? ProgramId, bool Intact, long SealsChecked, IReadOnlyList<ChainProblem> Problems, DateTimeOffset CheckedAt);

/// <summary>A seal recorded earlier (an evidence pack's chain head): its number in the chain and its hash in hexadecimal.</summary>
public sealed record KnownSeal(long Sequence, string Hash);

/// <summary>One ledger transaction's place in its programme's hash chain, with the text its hash covers.</summary>
public sealed record ChainSeal(string TransactionId, string Chain, long ChainSequence, string PrevHash, string Hash, string CanonicalText, DateTimeOffset SealedAt);

/// <summary>The last seal of a chain at some moment: a later state of the chain must still hold it.</summary>
public sealed record ChainHead(string Chain, long Sequence, string Hash);

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
        // One snapshot for the walk and the count, so the count is of the seals walked.
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, cancellationToken);
        await using var batch = new NpgsqlBatch(connection, transaction);
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
        if (programId is not null && known is not null && await SealAtAsync(connection, transaction, programId, known.Sequence, cancellationToken) is var (transactionId, hash)
            && hash != known.Hash)
        {
            found.Add(new ChainProblem(programId, known.Sequence, transactionId,
                $"the chain no longer holds seal {known.Sequence} as recorded earlier: it was rewritten from there or before"));
        }
        return new ChainVerification(programId, found.Count == 0, checkedSeals, found, clock.GetUtcNow());
    }

    /// <summary>The transaction and hash at a place in a chain; empty strings when the chain is not that long.</summary>
    private static async Task<(string TransactionId, string Hash)> SealAtAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string chain,
        long sequence, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("SELECT transaction_id, encode(hash, 'hex') FROM ledger_seals WHERE chain = @c AND chain_seq = @s",
            connection, transaction);
        command.Parameters.AddWithValue("c", chain);
        command.Parameters.AddWithValue("s", sequence);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? (reader.GetString(0), reader.GetString(1)) : ("", "");
    }

    /// <summary>The seals of the voucher's ledger transactions, in the order they were posted, as the caller's snapshot sees them.</summary>
    public static async Task<IReadOnlyList<ChainSeal>> SealsOfVoucherAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string voucherId,
        CancellationToken cancellationToken = default)
    {
        await using var command = new NpgsqlCommand("""
            SELECT s.transaction_id, s.chain, s.chain_seq, encode(s.prev_hash, 'hex'), encode(s.hash, 'hex'), ledger_canonical(s.transaction_id), s.sealed_at
            FROM ledger_transactions t JOIN ledger_seals s ON s.transaction_id = t.id
            WHERE t.voucher_id = @v ORDER BY t.seq
            """, connection, transaction);
        command.Parameters.AddWithValue("v", voucherId);
        var seals = new List<ChainSeal>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            seals.Add(new ChainSeal(reader.GetString(0), reader.GetString(1), reader.GetInt64(2), reader.GetString(3), reader.GetString(4), reader.GetString(5),
                reader.GetFieldValue<DateTimeOffset>(6)));
        }
        return seals;
    }

    /// <summary>The last seal of each of the chains (none for a chain with no seal yet), as the caller's snapshot sees them.</summary>
    public static async Task<IReadOnlyList<ChainHead>> HeadsAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, IReadOnlyCollection<string> chains,
        CancellationToken cancellationToken = default)
    {
        await using var command = new NpgsqlCommand("""
            SELECT DISTINCT ON (chain) chain, chain_seq, encode(hash, 'hex') FROM ledger_seals WHERE chain = ANY(@c) ORDER BY chain, chain_seq DESC
            """, connection, transaction);
        command.Parameters.AddWithValue("c", chains.ToArray());
        var heads = new List<ChainHead>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            heads.Add(new ChainHead(reader.GetString(0), reader.GetInt64(1), reader.GetString(2)));
        }
        return heads;
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
