using Npgsql;

namespace Marketplace.Web.Queries;

/// <summary>
/// Writes the dashboards' history (db/migrations/0113_history_rollups.sql) from the durable rows: utilization per pool
/// (pools and their confirmed holds), fills per pool (reservations by the minute they were made) and take-up per
/// programme (programmes and their vouchers). Every statement is an upsert of a whole bucket, so running it twice for
/// the same time writes the same rows.
/// </summary>
public sealed class HistoryRollup(NpgsqlDataSource db)
{
    /// <summary>How often the job writes a minute row.</summary>
    public static readonly TimeSpan RollupInterval = TimeSpan.FromMinutes(1);

    /// <summary>Fills of the last minutes are counted again each run, so a fill committed late still reaches its minute.</summary>
    public static readonly TimeSpan FillsRecounted = TimeSpan.FromMinutes(10);

    /// <summary>Minute rows older than this are folded into hour rows.</summary>
    public static readonly TimeSpan MinutesKeptFor = TimeSpan.FromDays(1);

    /// <summary>How often minute rows are folded into hour rows.</summary>
    public static readonly TimeSpan CompactionInterval = TimeSpan.FromHours(1);

    /// <summary>Hour rows older than this are deleted.</summary>
    public static readonly TimeSpan HoursKeptFor = TimeSpan.FromDays(400);

    /// <summary>One web node at a time writes history: the others skip the beat.</summary>
    private const long AdvisoryLockKey = 0x4d4b_4849_5354_4f52; // "MKHISTOR"

    /// <summary>
    /// Writes the minute rows for <paramref name="now"/> and, when <paramref name="compact"/>, folds old minute rows into
    /// hour rows and deletes rows past retention. With <paramref name="wait"/> false it returns false at once when another
    /// node holds the lock.
    /// </summary>
    public async Task<bool> RunAsync(DateTimeOffset now, bool compact, bool wait, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using (var locking = new NpgsqlCommand(wait ? "SELECT true FROM pg_advisory_xact_lock(@k)" : "SELECT pg_try_advisory_xact_lock(@k)",
            connection, transaction))
        {
            locking.Parameters.AddWithValue("k", AdvisoryLockKey);
            if (!(bool)(await locking.ExecuteScalarAsync(cancellationToken))!)
            {
                return false;
            }
        }
        var minute = Truncate(now, TimeSpan.FromMinutes(1));
        await ExecuteAsync(connection, transaction, MinuteRows, cancellationToken,
            ("now", now), ("minute", minute), ("hour", Hours.Floor(now)), ("recountFrom", minute - FillsRecounted));
        if (compact)
        {
            await ExecuteAsync(connection, transaction, Compaction, cancellationToken,
                ("cutoff", Truncate(now - MinutesKeptFor, TimeSpan.FromHours(1))), ("retained", now - HoursKeptFor));
        }
        await transaction.CommitAsync(cancellationToken);
        return true;
    }

    private static DateTimeOffset Truncate(DateTimeOffset time, TimeSpan step) =>
        new(time.UtcTicks - time.UtcTicks % step.Ticks, TimeSpan.Zero);

    private static async Task ExecuteAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, CancellationToken cancellationToken,
        params (string Name, object Value)[] parameters)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private const string MinuteRows = """
        INSERT INTO history_utilization AS u (grain, bucket, pool_id, provider_id, province, site_id, gpu_model, samples, listed_gpus, booked_gpus)
        SELECT 'minute', @minute, p.id, p.provider_id, p.province, p.site_id, p.gpu_model, 1, p.gpu_count,
               coalesce((SELECT sum(h.gpus) FROM pool_holds h
                         WHERE h.pool_id = p.id AND h.confirmed AND h.start_hour <= @hour AND @hour < h.start_hour + h.hours
                           AND (h.released_from_hour IS NULL OR @hour < h.released_from_hour)), 0)
        FROM pools p
        ON CONFLICT (grain, bucket, pool_id) DO UPDATE SET provider_id = excluded.provider_id, province = excluded.province,
            site_id = excluded.site_id, gpu_model = excluded.gpu_model, samples = 1, listed_gpus = excluded.listed_gpus, booked_gpus = excluded.booked_gpus;

        INSERT INTO history_fills AS f (grain, bucket, pool_id, provider_id, province, fills, gpu_hours, voucher_fen, cash_fen)
        SELECT 'minute', date_trunc('minute', r.created_at), r.pool_id, r.provider_id, p.province, count(*),
               sum(r.gpus::bigint * (r.end_hour - r.start_hour)),
               coalesce(sum((r.view_json ->> 'voucherFen')::bigint), 0), coalesce(sum((r.view_json ->> 'cashFen')::bigint), 0)
        FROM reservations r JOIN pools p ON p.id = r.pool_id
        WHERE r.created_at >= @recountFrom AND r.created_at < @minute + interval '1 minute' AND r.state NOT IN ('Pending', 'Failed')
        GROUP BY date_trunc('minute', r.created_at), r.pool_id, r.provider_id, p.province
        ON CONFLICT (grain, bucket, pool_id) DO UPDATE SET provider_id = excluded.provider_id, province = excluded.province,
            fills = excluded.fills, gpu_hours = excluded.gpu_hours, voucher_fen = excluded.voucher_fen, cash_fen = excluded.cash_fen;

        INSERT INTO history_takeup AS t (grain, bucket, program_id, city, as_of, issued_fen, held_fen, spent_fen, returned_fen, lapsed_fen)
        SELECT 'minute', @minute, p.id, p.province, @now, p.issued_fen, coalesce(sum(v.held_fen), 0), coalesce(sum(v.captured_fen), 0),
               p.returned_fen, coalesce(sum(v.returned_fen) FILTER (WHERE v.state = 'Lapsed'), 0)
        FROM programs p LEFT JOIN vouchers v ON v.program_id = p.id
        GROUP BY p.id
        ON CONFLICT (grain, bucket, program_id) DO UPDATE SET city = excluded.city, as_of = excluded.as_of, issued_fen = excluded.issued_fen,
            held_fen = excluded.held_fen, spent_fen = excluded.spent_fen, returned_fen = excluded.returned_fen, lapsed_fen = excluded.lapsed_fen;
        """;

    // Each fold deletes the minute rows it adds up in the same statement: run again, it finds none and changes nothing.
    private const string Compaction = """
        WITH moved AS (DELETE FROM history_utilization WHERE grain = 'minute' AND bucket < @cutoff RETURNING *)
        INSERT INTO history_utilization AS u (grain, bucket, pool_id, provider_id, province, site_id, gpu_model, samples, listed_gpus, booked_gpus)
        SELECT 'hour', date_trunc('hour', bucket), pool_id, max(provider_id), max(province), max(site_id), max(gpu_model),
               sum(samples), sum(listed_gpus), sum(booked_gpus)
        FROM moved GROUP BY date_trunc('hour', bucket), pool_id
        ON CONFLICT (grain, bucket, pool_id) DO UPDATE SET samples = u.samples + excluded.samples,
            listed_gpus = u.listed_gpus + excluded.listed_gpus, booked_gpus = u.booked_gpus + excluded.booked_gpus;

        WITH moved AS (DELETE FROM history_fills WHERE grain = 'minute' AND bucket < @cutoff RETURNING *)
        INSERT INTO history_fills AS f (grain, bucket, pool_id, provider_id, province, fills, gpu_hours, voucher_fen, cash_fen)
        SELECT 'hour', date_trunc('hour', bucket), pool_id, max(provider_id), max(province), sum(fills), sum(gpu_hours), sum(voucher_fen), sum(cash_fen)
        FROM moved GROUP BY date_trunc('hour', bucket), pool_id
        ON CONFLICT (grain, bucket, pool_id) DO UPDATE SET fills = f.fills + excluded.fills, gpu_hours = f.gpu_hours + excluded.gpu_hours,
            voucher_fen = f.voucher_fen + excluded.voucher_fen, cash_fen = f.cash_fen + excluded.cash_fen;

        WITH moved AS (DELETE FROM history_takeup WHERE grain = 'minute' AND bucket < @cutoff RETURNING *)
        INSERT INTO history_takeup AS t (grain, bucket, program_id, city, as_of, issued_fen, held_fen, spent_fen, returned_fen, lapsed_fen)
        SELECT DISTINCT ON (date_trunc('hour', bucket), program_id)
               'hour', date_trunc('hour', bucket), program_id, city, as_of, issued_fen, held_fen, spent_fen, returned_fen, lapsed_fen
        FROM moved ORDER BY date_trunc('hour', bucket), program_id, as_of DESC
        ON CONFLICT (grain, bucket, program_id) DO UPDATE SET city = excluded.city, as_of = excluded.as_of, issued_fen = excluded.issued_fen,
            held_fen = excluded.held_fen, spent_fen = excluded.spent_fen, returned_fen = excluded.returned_fen, lapsed_fen = excluded.lapsed_fen
            WHERE excluded.as_of > t.as_of;

        DELETE FROM history_utilization WHERE bucket < @retained;
        DELETE FROM history_fills WHERE bucket < @retained;
        DELETE FROM history_takeup WHERE bucket < @retained;
        """;
}

/// <summary>
/// Runs <see cref="HistoryRollup"/> at start and once a minute on the market clock's time, and its compaction once an hour.
/// History:RollupInterval changes the pace for tests only (sooner for a browser, never again for tests that run it themselves).
/// </summary>
internal sealed class HistoryJob(HistoryRollup rollup, [FromKeyedServices(Names.ClockKeys.Market)] TimeProvider clock, IConfiguration configuration,
    ILogger<HistoryJob> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var lastCompaction = DateTimeOffset.MinValue;
        using var timer = new PeriodicTimer(configuration.GetValue("History:RollupInterval", HistoryRollup.RollupInterval));
        do
        {
            try
            {
                var now = clock.GetUtcNow();
                var compact = now - lastCompaction >= HistoryRollup.CompactionInterval;
                if (await rollup.RunAsync(now, compact, wait: false, stoppingToken) && compact)
                {
                    lastCompaction = now;
                }
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning(e, "Could not write the history rollup");
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }
}
