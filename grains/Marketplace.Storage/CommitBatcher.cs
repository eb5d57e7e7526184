using System.Diagnostics;
using System.Threading.Channels;
using Npgsql;

namespace Marketplace.Storage;

/// <summary>
/// One write statement and its parameters. It must return one row with one integer (what its guard matched), so that
/// many of them can share a batch. Parameters are copied into each command built, so a statement can be run again.
/// </summary>
public sealed record Statement(string Sql, IReadOnlyList<NpgsqlParameter> Parameters)
{
    public NpgsqlBatchCommand ToBatchCommand()
    {
        var command = new NpgsqlBatchCommand(Sql);
        foreach (var parameter in Parameters)
        {
            command.Parameters.Add(parameter.Clone());
        }
        return command;
    }
}

/// <summary>
/// Group commit across grains. Every write of a grain's state is one statement that returns one row with one integer
/// (how many rows its guard matched). Statements queued at the same moment — by any grains of the process — are sent
/// as one batch in one transaction: one round trip and one WAL flush for many writes. Each caller's task completes only
/// after that transaction commits, so nothing is reported before it is durable. If the database refuses the batch (a
/// constraint, a unique key, an unbalanced ledger transaction), nothing of it committed, and each statement is run
/// again on its own so that only the faulty one fails. If the batch fails any other way (the connection broke, a
/// timeout), whether it committed is unknown: every caller gets the fault, and none is told a result.
/// </summary>
public sealed class CommitBatcher : IAsyncDisposable
{
    private const int MaxBatch = 200;

    /// <summary>The source of the batches' spans (the tracing of both processes listens to it).</summary>
    public const string ActivitySourceName = "Marketplace.Storage";

    private static readonly ActivitySource Source = new(ActivitySourceName);

    private readonly NpgsqlDataSource _db;
    private readonly Channel<Pending> _queue = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = false });
    private readonly Task[] _writers;

    /// <param name="Caller">The span of the caller: the batch runs on a writer loop, where the caller's trace does not flow by itself.</param>
    private sealed record Pending(Statement Statement, TaskCompletionSource<int> Done, ActivityContext Caller);

    /// <param name="writers">Batches in flight at once: while one commits, the next is being filled.</param>
    public CommitBatcher(NpgsqlDataSource db, int writers = 3)
    {
        _db = db;
        // The loops outlive whoever created the batcher: they must not carry that caller's trace (or anything else of its context).
        using (ExecutionContext.SuppressFlow())
        {
            _writers = Enumerable.Range(0, writers).Select(_ => Task.Run(WriteLoopAsync)).ToArray();
        }
    }

    /// <summary>Queues a statement; completes with its integer result once its transaction has committed.</summary>
    public Task<int> ExecuteAsync(Statement statement)
    {
        var done = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_queue.Writer.TryWrite(new Pending(statement, done, Activity.Current?.Context ?? default)))
        {
            done.SetException(new ObjectDisposedException(nameof(CommitBatcher)));
        }
        return done.Task;
    }

    private async Task WriteLoopAsync()
    {
        var batch = new List<Pending>(MaxBatch);
        while (await _queue.Reader.WaitToReadAsync())
        {
            while (batch.Count < MaxBatch && _queue.Reader.TryRead(out var pending))
            {
                batch.Add(pending);
            }
            if (batch.Count == 0)
            {
                continue;
            }
            using var span = StartBatchSpan(batch);
            try
            {
                var results = await RunAsync(batch);
                for (var i = 0; i < batch.Count; i++)
                {
                    batch[i].Done.SetResult(results[i]);
                }
            }
            catch (PostgresException) when (batch.Count > 1)
            {
                // The database refused it, so nothing committed: find the faulty statement by running each alone.
                foreach (var pending in batch)
                {
                    try
                    {
                        pending.Done.SetResult((await RunAsync([pending]))[0]);
                    }
                    catch (Exception e)
                    {
                        pending.Done.SetException(e);
                    }
                }
            }
            catch (Exception e)
            {
                foreach (var pending in batch)
                {
                    pending.Done.TrySetException(e);
                }
            }
            batch.Clear();
        }
    }

    /// <summary>
    /// One commit serves many requests: its span (and the PostgreSQL commands under it) continues the trace of the first
    /// traced caller and links the other callers' spans.
    /// </summary>
    private static Activity? StartBatchSpan(List<Pending> batch)
    {
        var callers = batch.Select(p => p.Caller).Where(c => c != default).Distinct().ToList();
        if (callers.Count == 0 || !Source.HasListeners())
        {
            return null;
        }
        var span = Source.StartActivity("commit batch", ActivityKind.Internal, callers[0], links: callers.Skip(1).Select(c => new ActivityLink(c)));
        span?.SetTag("marketplace.batch.statements", batch.Count);
        return span;
    }

    private async Task<int[]> RunAsync(List<Pending> batch)
    {
        await using var connection = await _db.OpenConnectionAsync();
        await using var npgsqlBatch = new NpgsqlBatch(connection);
        foreach (var pending in batch)
        {
            npgsqlBatch.BatchCommands.Add(pending.Statement.ToBatchCommand());
        }
        var results = new int[batch.Count];
        await using var reader = await npgsqlBatch.ExecuteReaderAsync();
        for (var i = 0; i < batch.Count; i++)
        {
            results[i] = await reader.ReadAsync() ? reader.GetInt32(0) : 0;
            await reader.NextResultAsync();
        }
        return results;
    }

    /// <summary>Runs the statement through <paramref name="writer"/>, or alone when there is none.</summary>
    public static Task<int> RunAsync(CommitBatcher? writer, NpgsqlDataSource db, Statement statement) =>
        writer is null ? ExecuteAloneAsync(db, statement) : writer.ExecuteAsync(statement);

    /// <summary>Runs a statement at once, outside any batch.</summary>
    public static async Task<int> ExecuteAloneAsync(NpgsqlDataSource db, Statement statement)
    {
        await using var batch = db.CreateBatch();
        batch.BatchCommands.Add(statement.ToBatchCommand());
        await using var reader = await batch.ExecuteReaderAsync();
        return await reader.ReadAsync() ? reader.GetInt32(0) : 0;
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await Task.WhenAll(_writers);
    }
}
