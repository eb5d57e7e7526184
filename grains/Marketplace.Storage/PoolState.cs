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

    /// <summary>The holds by reservation id; stored row by row in <c>pool_holds</c>, not in the state's json.</summary>
    [JsonIgnore]
    public Dictionary<string, PoolHold> Holds { get; set; } = [];

    /// <summary>
    /// The pool's <c>booked_version</c> when its holds were last read: every fill a market writes moves it on, so a
    /// write that takes capacity away names it to be sure no fill came in after the holds it checked.
    /// </summary>
    [JsonIgnore]
    public long BookedVersion { get; set; }

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
}

/// <summary>
/// What a pool's write does to the capacity its market sells (see <see cref="PoolStore.WriteAsync"/>): whether it moves
/// the terms fills are decided on, and, for a change checked against the pool's bookings, the <c>booked_version</c> they
/// were as of (the oldest, when writes are merged), and whether it books capacity itself.
/// </summary>
public readonly record struct PoolWriteKind(bool TermsChanged, long? CheckedAgainst, bool Books)
{
    /// <summary>Price only: fills decided on the old price are refused.</summary>
    public static PoolWriteKind Terms => new(true, null, false);

    /// <summary>Takes capacity away (or books it): refused if a fill came in after the bookings it was checked against.</summary>
    public static PoolWriteKind Checked(long bookedVersion, bool books = false) => new(true, bookedVersion, books);

    public static PoolWriteKind operator |(PoolWriteKind a, PoolWriteKind b) => new(a.TermsChanged || b.TermsChanged,
        a.CheckedAgainst is { } x ? (b.CheckedAgainst is { } y ? Math.Min(x, y) : x) : b.CheckedAgainst, a.Books || b.Books);
}

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

    public async Task<StoredRow<PoolState>?> LoadAsync(string id, CancellationToken cancellationToken = default)
    {
        await using var batch = db.CreateBatch();
        var pool = new NpgsqlBatchCommand("SELECT state_json::text, version, booked_version FROM pools WHERE id = @id");
        pool.Parameters.AddWithValue("id", id);
        var holds = new NpgsqlBatchCommand($"SELECT {HoldColumns} FROM pool_holds WHERE pool_id = @id");
        holds.Parameters.AddWithValue("id", id);
        batch.BatchCommands.Add(pool);
        batch.BatchCommands.Add(holds);
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }
        var state = StateJson.Deserialize<PoolState>(reader.GetString(0));
        var version = reader.GetInt64(1);
        state.BookedVersion = reader.GetInt64(2);
        await reader.NextResultAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var (reservationId, hold) = ReadHold(reader);
            state.Holds[reservationId] = hold;
        }
        return new StoredRow<PoolState>(state, version);
    }

    /// <summary>
    /// The pool's holds as stored now, with the <c>booked_version</c> they are as of (one statement, one snapshot): the
    /// pool's copy learns the fills its market wrote.
    /// </summary>
    public async Task<(long BookedVersion, IReadOnlyList<(string ReservationId, PoolHold Hold)> Holds)> LoadHoldsAsync(string id, CancellationToken cancellationToken = default)
    {
        await using var command = db.CreateCommand($"""
            SELECT p.booked_version, h.{HoldColumns.Replace(", ", ", h.")}
            FROM pools p LEFT JOIN pool_holds h ON h.pool_id = p.id WHERE p.id = @id
            """);
        command.Parameters.AddWithValue("id", id);
        long booked = 0;
        var holds = new List<(string, PoolHold)>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            booked = reader.GetInt64(0);
            if (!reader.IsDBNull(1))
            {
                holds.Add(ReadHold(reader, 1));
            }
        }
        return (booked, holds);
    }

    /// <summary>
    /// Writes the pool's state over <paramref name="expectedVersion"/> (0: creates it) with the holds that changed
    /// (a null hold: deleted). Returns the new version; a stale version writes nothing and throws.
    /// </summary>
    /// <remarks>Everything is read into parameters before this returns its task, so the caller may go on changing the state.</remarks>
    /// <param name="change">
    /// What the write does to capacity besides the pool's own row: whether it changes the terms fills are decided on
    /// (price, GPUs, outages), and whether it was checked against the bookings as of <see cref="PoolState.BookedVersion"/>
    /// (it takes capacity away, or books some itself) and so must be refused if a fill came in since.
    /// </param>
    public async Task<long> WriteAsync(string id, PoolState state, IReadOnlyDictionary<string, PoolHold?> changedHolds, long expectedVersion,
        PoolWriteKind change = default)
    {
        var write = new GuardedWrite(w => expectedVersion == 0
            ? $"""
               INSERT INTO pools (id, {Columns}) VALUES ({w.Parameter(id)}, {Values(w, state)}, 1, {w.Parameter(state.UpdatedAt)})
               ON CONFLICT (id) DO NOTHING RETURNING id
               """
            : $"""
               UPDATE pools SET ({Columns}) = ({Values(w, state)}, version + 1, {w.Parameter(state.UpdatedAt)}),
                   terms_version = terms_version + {(change.TermsChanged ? 1 : 0)}, booked_version = booked_version + {(change.Books ? 1 : 0)}
               WHERE id = {w.Parameter(id)} AND version = {w.Parameter(expectedVersion)}
                 {(change.CheckedAgainst is { } seen ? $"AND booked_version = {w.Parameter(seen)}" : "")}
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
        if (await CommitBatcher.RunAsync(writer, db, write.ToStatement()) != 1)
        {
            throw new StaleStateException("pools", id, expectedVersion);
        }
        if (change is { Books: true, CheckedAgainst: { } checkedAgainst })
        {
            state.BookedVersion = Math.Max(state.BookedVersion, checkedAgainst + 1);
        }
        return expectedVersion + 1;
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
