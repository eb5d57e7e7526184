using Npgsql;

namespace Marketplace.Web.Queries;

/// <summary>A span of history a chart asks for and the step its points are spaced by.</summary>
public sealed record HistoryRange(string Name, TimeSpan Span, TimeSpan Step)
{
    public static readonly IReadOnlyList<HistoryRange> All =
    [
        new("hour", TimeSpan.FromHours(1), TimeSpan.FromMinutes(1)),
        new("day", TimeSpan.FromDays(1), TimeSpan.FromMinutes(5)),
        new("week", TimeSpan.FromDays(7), TimeSpan.FromHours(1)),
    ];

    /// <summary>The range named <paramref name="name"/> (hour when none is named), or null for a name that is not one.</summary>
    public static HistoryRange? Parse(string? name) =>
        name is null ? All[0] : All.FirstOrDefault(r => string.Equals(r.Name, name, StringComparison.Ordinal));
}

/// <summary>
/// GPUs listed and booked on average over a step, of a province or of a pool, and the same in compute: TFLOPS (thousandths
/// of a PFLOPS) of dense BF16/FP16 from the accelerator catalogue. Models without a published figure are not counted in
/// <see cref="ListedTflops"/> and <see cref="BookedTflops"/>, as on the map.
/// </summary>
public sealed record UtilizationPoint(DateTimeOffset At, string Key, double ListedGpus, double BookedGpus, double ListedTflops, double BookedTflops);

/// <summary>Fills made in a step, of a province or of a pool.</summary>
public sealed record FillsPoint(DateTimeOffset At, string Key, long Fills, long GpuHours, long VoucherFen, long CashFen);

/// <summary>A programme's money at the end of a step.</summary>
public sealed record TakeUpPoint(DateTimeOffset At, string ProgramId, string City, long IssuedFen, long HeldFen, long SpentFen, long ReturnedFen, long LapsedFen);

public sealed record History<T>(string Range, DateTimeOffset From, DateTimeOffset To, int StepSeconds, IReadOnlyList<T> Points);

/// <summary>A provider's own pools: utilization and fills (its earnings are the fills' voucher and cash amounts) per pool.</summary>
public sealed record ProviderHistory(string ProviderId, string Range, DateTimeOffset From, DateTimeOffset To, int StepSeconds,
    IReadOnlyList<UtilizationPoint> Utilization, IReadOnlyList<FillsPoint> Fills);

/// <summary>Reads what <see cref="HistoryRollup"/> wrote: minute and hour rows alike, binned to the range's step.</summary>
public sealed class HistoryReads(NpgsqlDataSource db, [FromKeyedServices(Names.ClockKeys.Market)] TimeProvider clock)
{
    public async Task<History<UtilizationPoint>> UtilizationAsync(HistoryRange range, string? province, CancellationToken cancellationToken)
    {
        var (from, to) = Span(range);
        var points = await UtilizationPointsAsync(range, from, to, "province", "province", province, cancellationToken);
        return new History<UtilizationPoint>(range.Name, from, to, (int)range.Step.TotalSeconds, points);
    }

    public async Task<History<FillsPoint>> FillsAsync(HistoryRange range, CancellationToken cancellationToken)
    {
        var (from, to) = Span(range);
        var points = await FillsPointsAsync(range, from, to, "province", null, null, cancellationToken);
        return new History<FillsPoint>(range.Name, from, to, (int)range.Step.TotalSeconds, points);
    }

    public async Task<ProviderHistory> ProviderAsync(string providerId, HistoryRange range, CancellationToken cancellationToken)
    {
        var (from, to) = Span(range);
        var utilization = await UtilizationPointsAsync(range, from, to, "pool_id", "provider_id", providerId, cancellationToken);
        var fills = await FillsPointsAsync(range, from, to, "pool_id", "provider_id", providerId, cancellationToken);
        return new ProviderHistory(providerId, range.Name, from, to, (int)range.Step.TotalSeconds, utilization, fills);
    }

    public async Task<History<TakeUpPoint>> TakeUpAsync(HistoryRange range, string? programId, CancellationToken cancellationToken)
    {
        var (from, to) = Span(range);
        await using var command = db.CreateCommand("""
            SELECT DISTINCT ON (at, program_id) at, program_id, city, issued_fen, held_fen, spent_fen, returned_fen, lapsed_fen
            FROM (SELECT date_bin(@step, bucket, @origin) AS at, * FROM history_takeup
                  WHERE bucket >= @from AND bucket <= @to AND (@filter::text IS NULL OR program_id = @filter)) binned
            ORDER BY at, program_id, as_of DESC
            """);
        AddRange(command, range, from, to, programId);
        var points = await ReadModels.ReadAsync(command, r => new TakeUpPoint(r.GetFieldValue<DateTimeOffset>(0), r.GetString(1), r.GetString(2),
            r.GetInt64(3), r.GetInt64(4), r.GetInt64(5), r.GetInt64(6), r.GetInt64(7)), cancellationToken);
        return new History<TakeUpPoint>(range.Name, from, to, (int)range.Step.TotalSeconds, points);
    }

    private (DateTimeOffset From, DateTimeOffset To) Span(HistoryRange range)
    {
        var now = clock.GetUtcNow();
        return (now - range.Span, now);
    }

    // keyColumn and filterColumn are column names of this class, never input.
    private async Task<IReadOnlyList<UtilizationPoint>> UtilizationPointsAsync(HistoryRange range, DateTimeOffset from, DateTimeOffset to,
        string keyColumn, string filterColumn, string? filter, CancellationToken cancellationToken)
    {
        // A pool's GPUs are averaged over the minutes it was sampled in the step, then pools are added up by model, and the
        // models here, each converted to compute by the catalogue's one conversion.
        await using var command = db.CreateCommand($"""
            SELECT at, key, gpu_model, sum(listed), sum(booked) FROM (
                SELECT date_bin(@step, bucket, @origin) AS at, max({keyColumn}) AS key, max(gpu_model) AS gpu_model,
                       sum(listed_gpus)::float8 / sum(samples) AS listed, sum(booked_gpus)::float8 / sum(samples) AS booked
                FROM history_utilization
                WHERE bucket >= @from AND bucket <= @to AND (@filter::text IS NULL OR {filterColumn} = @filter)
                GROUP BY 1, pool_id) pools
            GROUP BY at, key, gpu_model ORDER BY at, key, gpu_model
            """);
        AddRange(command, range, from, to, filter);
        var byModel = await ReadModels.ReadAsync(command, r => (At: r.GetFieldValue<DateTimeOffset>(0), Key: r.GetString(1),
            PerGpu: ComputeRules.Tflops(r.GetString(2), 1), Listed: r.GetDouble(3), Booked: r.GetDouble(4)), cancellationToken);
        return byModel.GroupBy(m => (m.At, m.Key)).Select(g => new UtilizationPoint(g.Key.At, g.Key.Key, g.Sum(m => m.Listed), g.Sum(m => m.Booked),
            g.Sum(m => m.Listed * (m.PerGpu ?? 0)), g.Sum(m => m.Booked * (m.PerGpu ?? 0)))).ToList();
    }

    private async Task<IReadOnlyList<FillsPoint>> FillsPointsAsync(HistoryRange range, DateTimeOffset from, DateTimeOffset to,
        string keyColumn, string? filterColumn, string? filter, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand($"""
            SELECT date_bin(@step, bucket, @origin) AS at, {keyColumn}, sum(fills)::bigint, sum(gpu_hours)::bigint, sum(voucher_fen)::bigint, sum(cash_fen)::bigint
            FROM history_fills
            WHERE bucket >= @from AND bucket <= @to AND (@filter::text IS NULL OR {filterColumn ?? keyColumn} = @filter)
            GROUP BY 1, 2 ORDER BY 1, 2
            """);
        AddRange(command, range, from, to, filter);
        return await ReadModels.ReadAsync(command, r => new FillsPoint(r.GetFieldValue<DateTimeOffset>(0), r.GetString(1), r.GetInt64(2), r.GetInt64(3),
            r.GetInt64(4), r.GetInt64(5)), cancellationToken);
    }

    private static void AddRange(NpgsqlCommand command, HistoryRange range, DateTimeOffset from, DateTimeOffset to, string? filter)
    {
        command.Parameters.AddWithValue("step", range.Step);
        command.Parameters.AddWithValue("origin", DateTimeOffset.UnixEpoch);
        // Whole buckets: the one the range starts in counts.
        command.Parameters.AddWithValue("from", from - range.Step);
        command.Parameters.AddWithValue("to", to);
        command.Parameters.AddWithValue("filter", NpgsqlTypes.NpgsqlDbType.Text, (object?)filter ?? DBNull.Value);
    }
}
