using System.Text.Json.Serialization;
using Npgsql;
using NpgsqlTypes;

namespace Marketplace.Storage;

/// <summary>A pool's hold for one reservation (row of <c>pool_holds</c>). Hours from <see cref="ReleasedFromHour"/> on were given back.</summary>
public sealed class PoolHold
{
    public long StartHour { get; set; }
    public int Hours { get; set; }
    public int Gpus { get; set; }
    public bool Confirmed { get; set; }
    /// <summary>When an unconfirmed hold lapses; null once confirmed.</summary>
    public DateTimeOffset? ExpiresAt { get; set; }
    public long? ReleasedFromHour { get; set; }
    public bool Earned { get; set; }

    /// <summary>Whether the hold uses its hours at <paramref name="now"/>: unless it lapsed unconfirmed.</summary>
    public bool Counts(DateTimeOffset now) => Confirmed || ExpiresAt is not { } expires || expires > now;

    public long EndHour => ReleasedFromHour is { } released ? Math.Clamp(released, StartHour, StartHour + Hours) : StartHour + Hours;
}

/// <summary>The persisted state of a GPU pool: a row of <c>pools</c> and its rows of <c>pool_holds</c>.</summary>
public sealed class PoolState
{
    public required PoolSpec Spec { get; set; }
    public long AskFenPerGpuHour { get; set; }
    public int GpuCount { get; set; }
    public List<Outage> Outages { get; set; } = [];
    public long EarningsFen { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }
    /// <summary>
    /// Why the pool sells nothing now while its capacity stands (its provider is not verified), or null while it sells.
    /// The reservations it already has are kept.
    /// </summary>
    public string? SuspendedBecause { get; set; }
    /// <summary>
    /// The provider's reliability score as its provider last told the pool (<see cref="Marketplace.Domain.Reliability"/>), or
    /// null while the provider is new; the market filters pools for bids that require a minimum by it.
    /// </summary>
    public int? ReliabilityBasisPoints { get; set; }

    /// <summary>The holds by reservation id; stored row by row in <c>pool_holds</c>, not in the state's json.</summary>
    [JsonIgnore]
    public Dictionary<string, PoolHold> Holds { get; set; } = [];

    /// <summary>GPUs that can be sold in the hour: all of them, or none while an outage covers it.</summary>
    public int CapacityAt(long hour)
    {
        foreach (var outage in Outages)
        {
            if (hour >= Hours.Floor(outage.From) && hour < Hours.Ceiling(outage.To))
            {
                return 0;
            }
        }
        return GpuCount;
    }

    /// <summary>GPUs that can be sold to a new bid in the hour: the capacity, or none while the pool is suspended.</summary>
    public int SellableAt(long hour) => SuspendedBecause is null ? CapacityAt(hour) : 0;
}

/// <summary>
/// Checks a pool's write against every hold stored once the write has taken the pool's row (so no fill is in flight on
/// it and none can start): a message saying why the write must not stand, or null.
/// </summary>
public delegate string? PoolWriteCheck(IReadOnlyCollection<PoolHold> holds);

/// <summary>
/// Pools: the state row is created once; every later write bumps the row's version (checked, as for every grain) and
/// upserts or deletes only the holds that changed since the last write, in the same statement.
/// </summary>
public sealed class PoolStore(NpgsqlDataSource db, CommitBatcher? writer = null)
{
    private const string Columns = "provider_id, gpu_model, province, site_id, gpu_count, ask_fen, state_json, version, updated_at";

    /// <summary>The columns of <c>pool_holds</c> that <see cref="ReadHold"/> reads, in its order.</summary>
    public const string HoldColumns = "reservation_id, start_hour, hours, gpus, confirmed, expires_at, released_from_hour, earned";

    public static (string ReservationId, PoolHold Hold) ReadHold(NpgsqlDataReader reader, int first = 0) => (reader.GetString(first), new PoolHold
    {
        StartHour = reader.GetInt64(first + 1),
        Hours = reader.GetInt32(first + 2),
        Gpus = reader.GetInt32(first + 3),
        Confirmed = reader.GetBoolean(first + 4),
        ExpiresAt = reader.IsDBNull(first + 5) ? null : reader.GetFieldValue<DateTimeOffset>(first + 5),
        ReleasedFromHour = reader.IsDBNull(first + 6) ? null : reader.GetInt64(first + 6),
        Earned = reader.GetBoolean(first + 7),
    });

    public async Task<StoredRow<PoolState>?> LoadAsync(string id, CancellationToken cancellationToken = default) =>
        await ReadAsync(db, id, "version", long.MinValue, cancellationToken) is { } found ? new StoredRow<PoolState>(found.State, found.Counter) : null;

    /// <summary>
    /// A pool's state with its holds that run past <paramref name="fromHour"/>, and one of its row's counters
    /// (<c>version</c> for the pool itself, <c>terms_version</c> for its market), or null if there is no such pool.
    /// </summary>
    public static async Task<(PoolState State, long Counter)?> ReadAsync(NpgsqlDataSource db, string id, string counterColumn, long fromHour,
        CancellationToken cancellationToken = default)
    {
        await using var batch = db.CreateBatch();
        var pool = new NpgsqlBatchCommand($"SELECT state_json::text, {counterColumn} FROM pools WHERE id = @id");
        pool.Parameters.AddWithValue("id", id);
        var holds = new NpgsqlBatchCommand($"SELECT {HoldColumns} FROM pool_holds WHERE pool_id = @id AND start_hour + hours > @from");
        holds.Parameters.AddWithValue("id", id);
        holds.Parameters.AddWithValue("from", fromHour);
        batch.BatchCommands.Add(pool);
        batch.BatchCommands.Add(holds);
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }
        var state = StateJson.Deserialize<PoolState>(reader.GetString(0));
        var counter = reader.GetInt64(1);
        await reader.NextResultAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var (reservationId, hold) = ReadHold(reader);
            state.Holds[reservationId] = hold;
        }
        return (state, counter);
    }

    /// <summary>The pool's holds as stored now: the pool's copy learns the fills its market wrote.</summary>
    public async Task<IReadOnlyList<(string ReservationId, PoolHold Hold)>> LoadHoldsAsync(string id, CancellationToken cancellationToken = default) =>
        await ReadHoldsAsync(db.CreateCommand($"SELECT {HoldColumns} FROM pool_holds WHERE pool_id = @id"), id, cancellationToken);

    private static async Task<IReadOnlyList<(string ReservationId, PoolHold Hold)>> ReadHoldsAsync(NpgsqlCommand command, string id, CancellationToken cancellationToken)
    {
        await using (command)
        {
            command.Parameters.AddWithValue("id", id);
            var holds = new List<(string, PoolHold)>();
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                holds.Add(ReadHold(reader));
            }
            return holds;
        }
    }

    /// <summary>
    /// Writes the pool's state over <paramref name="expectedVersion"/> (0: creates it) with the holds that changed
    /// (a null hold: deleted). Returns the new version; a stale version writes nothing and throws.
    /// </summary>
    /// <remarks>Everything is read into parameters before this returns its task, so the caller may go on changing the state.</remarks>
    /// <param name="termsChanged">The write changes what the pool sells (price, GPUs, outages): fills decided before it are refused.</param>
    /// <param name="check">
    /// For a write that takes capacity away (or books it): run on every stored hold after the write has taken the pool's
    /// row, in the same transaction, which it rolls back with the check's message as a rule error if that is not null.
    /// </param>
    public async Task<long> WriteAsync(string id, PoolState state, IReadOnlyDictionary<string, PoolHold?> changedHolds, long expectedVersion,
        bool termsChanged = false, PoolWriteCheck? check = null)
    {
        var write = new GuardedWrite(w => expectedVersion == 0
            ? $"""
               INSERT INTO pools (id, {Columns}) VALUES ({w.Parameter(id)}, {Values(w, state)}, 1, {w.Parameter(state.UpdatedAt)})
               ON CONFLICT (id) DO NOTHING RETURNING id
               """
            : $"""
               UPDATE pools SET ({Columns}) = ({Values(w, state)}, version + 1, {w.Parameter(state.UpdatedAt)}),
                   terms_version = terms_version + {(termsChanged || check is not null ? 1 : 0)}
               WHERE id = {w.Parameter(id)} AND version = {w.Parameter(expectedVersion)}
                 {(termsChanged || check is not null ? $"AND pool_terms_lock({w.Parameter(id)})" : "")}
               RETURNING id
               """);
        var upserts = changedHolds.Where(c => c.Value is not null).Select(c => (Id: c.Key, Hold: c.Value!)).ToList();
        if (upserts.Count > 0)
        {
            write.Then($"""
                INSERT INTO pool_holds (pool_id, reservation_id, start_hour, hours, gpus, confirmed, expires_at, released_from_hour, earned)
                SELECT g.id, u.* FROM g, unnest({write.Parameter(upserts.Select(u => u.Id).ToArray())}::text[],
                    {write.Parameter(upserts.Select(u => u.Hold.StartHour).ToArray())}::bigint[],
                    {write.Parameter(upserts.Select(u => u.Hold.Hours).ToArray())}::int[],
                    {write.Parameter(upserts.Select(u => u.Hold.Gpus).ToArray())}::int[],
                    {write.Parameter(upserts.Select(u => u.Hold.Confirmed).ToArray())}::boolean[],
                    {write.Parameter(upserts.Select(u => u.Hold.ExpiresAt).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.TimestampTz)},
                    {write.Parameter(upserts.Select(u => u.Hold.ReleasedFromHour).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Bigint)},
                    {write.Parameter(upserts.Select(u => u.Hold.Earned).ToArray())}::boolean[])
                    AS u(reservation_id, start_hour, hours, gpus, confirmed, expires_at, released_from_hour, earned)
                ON CONFLICT (pool_id, reservation_id) DO UPDATE SET start_hour = EXCLUDED.start_hour, hours = EXCLUDED.hours,
                    gpus = EXCLUDED.gpus, confirmed = EXCLUDED.confirmed, expires_at = EXCLUDED.expires_at,
                    released_from_hour = EXCLUDED.released_from_hour, earned = EXCLUDED.earned
                RETURNING 1
                """);
        }
        var deletes = changedHolds.Where(c => c.Value is null).Select(c => c.Key).ToArray();
        if (deletes.Length > 0)
        {
            write.Then($"DELETE FROM pool_holds USING g WHERE pool_holds.pool_id = g.id AND pool_holds.reservation_id = ANY({write.Parameter(deletes)}::text[]) RETURNING 1");
        }
        if (check is not null || termsChanged)
        {
            // Alone: a change of terms waits for the fills in flight, and must hold nothing they could be waiting for.
            await WriteAloneAsync(id, write, expectedVersion, check);
        }
        else if (await CommitBatcher.RunAsync(writer, db, write.ToStatement()) != 1)
        {
            throw new StaleStateException("pools", id, expectedVersion);
        }
        return expectedVersion + 1;
    }

    /// <summary>
    /// The write in a transaction of its own: its update of the pool's row waits for the fills in flight on it and holds
    /// back new ones (<c>pool_terms_lock</c>); a second statement, with a snapshot taken after that, reads every hold and
    /// the check (if any) decides whether the write stands.
    /// </summary>
    private async Task WriteAloneAsync(string id, GuardedWrite write, long expectedVersion, PoolWriteCheck? check)
    {
        await using var connection = await db.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        if (await write.ExecuteAsync(connection, transaction) != 1)
        {
            throw new StaleStateException("pools", id, expectedVersion);
        }
        if (check is not null)
        {
            var command = new NpgsqlCommand($"SELECT {HoldColumns} FROM pool_holds WHERE pool_id = @id", connection, transaction);
            var holds = await ReadHoldsAsync(command, id, CancellationToken.None);
            if (check(holds.Select(h => h.Hold).ToList()) is { } refusal)
            {
                await transaction.RollbackAsync();
                throw DomainException.Rule("capacity-below-booked", refusal, "gpuCount");
            }
        }
        await transaction.CommitAsync();
    }

    private static string Values(GuardedWrite w, PoolState state) =>
        $"{w.Parameter(state.Spec.ProviderId)}, {w.Parameter(state.Spec.GpuModel)}, {w.Parameter(state.Spec.Site.Province)}, " +
        $"{w.Parameter(state.Spec.Site.SiteId)}, {w.Parameter(state.GpuCount)}, {w.Parameter(state.AskFenPerGpuHour)}, " +
        $"{w.Parameter(StateJson.Serialize(state))}::jsonb";

    public async Task<IReadOnlyList<string>> PoolIdsForModelAsync(string gpuModel, CancellationToken cancellationToken = default)
    {
        await using var command = db.CreateCommand("SELECT id FROM pools WHERE gpu_model = @m ORDER BY id");
        command.Parameters.AddWithValue("m", gpuModel);
        var ids = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            ids.Add(reader.GetString(0));
        }
        return ids;
    }
}
