using System.Diagnostics;
using System.Threading.Channels;
using Npgsql;

namespace Marketplace.Data;

/// <summary>
/// One write statement and its parameters. It must return one row with one integer (what its guard matched), so that
/// many of them can share a batch. Parameters are copied into each command built, so a statement can be run again.
/// </summary>
public sealed record Statement(string Sql, IReadOnlyList<NpgsqlParameter> Parameters)
{
    /// <summary>
    /// The company whose rows the statement writes (its cash, its vouchers), if any: statements of one company are never
    /// in two of the batcher's transactions at once, so a batch never waits for another batch's commit on those rows.
    /// </summary>
    public string? Lane { get; init; }

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
/// Each writer loop has a lane of its own: a statement with a <see cref="Statement.Lane"/> always goes to the same one,
/// any other to the lane with the fewest statements not yet answered. Every fill of a company writes that company's cash row; were two of
/// them in batches committing side by side, the second batch would hold its connection waiting for the first's commit.
/// </summary>
public sealed class CommitBatcher : IAsyncDisposable
{
    private const int MaxBatch = 200;

    /// <summary>The source of the batches' spans (the tracing of both processes listens to it).</summary>
    public const string ActivitySourceName = "Marketplace.Storage";

    private static readonly ActivitySource Source = new(ActivitySourceName);

    private readonly NpgsqlDataSource _db;
    private readonly Channel<Pending>[] _lanes;
    /// <summary>Statements queued in each lane and not yet answered, those of the batch in flight included.</summary>
    private readonly int[] _unfinished;
    private readonly Task[] _writers;

    /// <param name="Caller">The span of the caller: the batch runs on a writer loop, where the caller's trace does not flow by itself.</param>
    private sealed record Pending(Statement Statement, TaskCompletionSource<int> Done, ActivityContext Caller);

    /// <param name="writers">Batches in flight at once: while one commits, the next is being filled.</param>
    public CommitBatcher(NpgsqlDataSource db, int writers = 3)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(writers, 1);
        _db = db;
        _lanes = Enumerable.Range(0, writers).Select(_ => Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true })).ToArray();
        _unfinished = new int[writers];
        // The loops outlive whoever created the batcher: they must not carry that caller's trace (or anything else of its context).
        using (ExecutionContext.SuppressFlow())
        {
            _writers = Enumerable.Range(0, writers).Select(lane => Task.Run(() => WriteLoopAsync(lane))).ToArray();
        }
    }

    /// <summary>Queues a statement; completes with its integer result once its transaction has committed.</summary>
    public Task<int> ExecuteAsync(Statement statement)
    {
        var done = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var lane = statement.Lane is { } key ? LaneOf(key) : LeastBusyLane();
        Interlocked.Increment(ref _unfinished[lane]);
        if (!_lanes[lane].Writer.TryWrite(new Pending(statement, done, Activity.Current?.Context ?? default)))
        {
            Interlocked.Decrement(ref _unfinished[lane]);
            done.SetException(new ObjectDisposedException(nameof(CommitBatcher)));
        }
        return done.Task;
    }

    /// <summary>The lane (writer loop) that runs every statement whose <see cref="Statement.Lane"/> is <paramref name="key"/>.</summary>
    public int LaneOf(string key) => (StringComparer.Ordinal.GetHashCode(key) & int.MaxValue) % _lanes.Length;

    private int LeastBusyLane()
    {
        var least = 0;
        for (var lane = 1; lane < _unfinished.Length; lane++)
        {
            if (Volatile.Read(ref _unfinished[lane]) < Volatile.Read(ref _unfinished[least]))
            {
                least = lane;
            }
        }
        return least;
    }

    private async Task WriteLoopAsync(int lane)
    {
        var queue = _lanes[lane].Reader;
        var batch = new List<Pending>(MaxBatch);
        while (await queue.WaitToReadAsync())
        {
            while (batch.Count < MaxBatch && queue.TryRead(out var pending))
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
            Interlocked.Add(ref _unfinished[lane], -batch.Count);
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
        foreach (var lane in _lanes)
        {
            lane.Writer.TryComplete();
        }
        await Task.WhenAll(_writers);
    }
}
