using Marketplace.Data;
using Marketplace.Testing;
using Npgsql;
using Xunit;

namespace Marketplace.Grains.Tests;

/// <summary>Group commit: many writes share a transaction, yet each gets its own answer and only a faulty one fails.</summary>
public sealed class CommitBatcherTests : IAsyncLifetime
{
    private TestDatabase _database = null!;

    public async Task InitializeAsync() => _database = await TestDatabase.CreateAsync(nameof(CommitBatcherTests));

    public async Task DisposeAsync() => await _database.DisposeAsync();

    private static Statement Posting(string id, long debit, long credit) =>
        new GuardedWrite(_ => "SELECT 1").Post(new LedgerPosting(id, "test", "test", [("a", debit), ("b", -credit)]), DateTimeOffset.UtcNow).ToStatement();

    [Fact]
    public async Task Each_statement_of_a_batch_gets_its_own_result()
    {
        await using var batcher = new CommitBatcher(_database.DataSource, writers: 1);
        var statements = Enumerable.Range(0, 300).Select(i => batcher.ExecuteAsync(new Statement(
            "WITH w AS (SELECT generate_series(1, @n)) SELECT count(*)::int FROM w", [new NpgsqlParameter("n", i % 7)]))).ToList();
        var results = await Task.WhenAll(statements);
        Assert.Equal(Enumerable.Range(0, 300).Select(i => i % 7), results);
    }

    [Fact]
    public async Task A_faulty_statement_fails_alone_and_its_batch_mates_commit()
    {
        await using var batcher = new CommitBatcher(_database.DataSource, writers: 1);
        var writes = Enumerable.Range(0, 100)
            .Select(i => i == 37
                ? batcher.ExecuteAsync(Posting($"tx-{i}", 5, 4)) // unbalanced: refused at commit
                : batcher.ExecuteAsync(Posting($"tx-{i}", 5, 5)))
            .ToList();
        var duplicate = batcher.ExecuteAsync(Posting("tx-1", 7, 7)); // same id as another write: a unique violation

        for (var i = 0; i < writes.Count; i++)
        {
            if (i == 37)
            {
                var refused = await Assert.ThrowsAsync<PostgresException>(() => writes[i]);
                Assert.Equal("ledger_transaction_balanced", refused.ConstraintName);
            }
            else
            {
                Assert.Equal(1, await writes[i]);
            }
        }
        Assert.Equal(PostgresErrorCodes.UniqueViolation, (await Assert.ThrowsAsync<PostgresException>(() => duplicate)).SqlState);
        Assert.Equal(99, await _database.ScalarAsync<long>("SELECT count(*) FROM ledger_transactions"));
        Assert.Equal(0, await _database.ScalarAsync<long>("SELECT count(*) FROM ledger_transactions WHERE id = 'tx-37'"));
    }

    [Fact]
    public async Task Statements_of_one_company_never_commit_side_by_side_while_other_companies_and_unlaned_statements_go_on()
    {
        await using var batcher = new CommitBatcher(_database.DataSource, writers: 3);
        const string company = "company-a";
        var other = Enumerable.Range(0, 100).Select(i => $"company-{i}").First(k => batcher.LaneOf(k) != batcher.LaneOf(company));

        // The test holds a lock; the company's first statement waits for it inside its batch's transaction.
        await using var blocker = await _database.DataSource.OpenConnectionAsync();
        await using var transaction = await blocker.BeginTransactionAsync();
        await using (var take = new NpgsqlCommand("SELECT pg_advisory_xact_lock(4242)", blocker, transaction))
        {
            await take.ExecuteNonQueryAsync();
        }
        var first = batcher.ExecuteAsync(new Statement("SELECT 1 FROM (SELECT pg_advisory_xact_lock_shared(4242)) AS waited", []) { Lane = company });
        await WaitUntilAsync("""
            SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database
            WHERE d.datname = current_database() AND l.locktype = 'advisory' AND l.classid = 0 AND l.objid = 4242 AND NOT l.granted
            """, 1);

        var second = batcher.ExecuteAsync(new Statement("SELECT 2", []) { Lane = company });
        var unlaned = batcher.ExecuteAsync(new Statement("SELECT 3", []));
        var otherCompany = batcher.ExecuteAsync(new Statement("SELECT 4", []) { Lane = other });
        Assert.Equal(3, await unlaned);
        Assert.Equal(4, await otherCompany);
        Assert.False(second.IsCompleted); // behind the first, not in a transaction beside it
        Assert.False(first.IsCompleted);

        await transaction.CommitAsync();
        Assert.Equal(1, await first);
        Assert.Equal(2, await second);
    }

    private async Task WaitUntilAsync(string countSql, long expected)
    {
        for (var seen = -1L; seen != expected; await Task.Yield())
        {
            seen = await _database.ScalarAsync<long>(countSql);
        }
    }
}
