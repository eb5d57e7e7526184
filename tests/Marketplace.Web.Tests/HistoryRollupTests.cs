using System.Net;
using System.Text.Json;
using Marketplace.Testing;
using Marketplace.Web.Queries;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Xunit;

namespace Marketplace.Web.Tests;

/// <summary>The web tier's history job runs once at start and then not again: each test runs the rollup itself, at the market clock's time.</summary>
public sealed class HistoryCluster : WebCluster
{
    protected override IReadOnlyDictionary<string, string?> WebSettings => new Dictionary<string, string?> { ["History:RollupInterval"] = "30.00:00:00" };
}

[CollectionDefinition(Name)]
public sealed class HistoryCollection : ICollectionFixture<HistoryCluster>
{
    public const string Name = "history";
}

/// <summary>The history rollups: minute rows from fills, hour rows from day-old minutes, idempotent runs, and the read routes' ranges.</summary>
[Collection(HistoryCollection.Name)]
public sealed class HistoryRollupTests(HistoryCluster web)
{
    private readonly Scenario _s = new(web);

    private HistoryRollup Rollup => web.Factory.Services.GetRequiredService<HistoryRollup>();

    private static DateTimeOffset Minute(DateTimeOffset time) => new(time.UtcTicks - time.UtcTicks % TimeSpan.TicksPerMinute, TimeSpan.Zero);

    private static DateTimeOffset Hour(DateTimeOffset time) => new(time.UtcTicks - time.UtcTicks % TimeSpan.TicksPerHour, TimeSpan.Zero);

    [Fact]
    public async Task The_rollup_of_a_known_set_of_fills_gives_exactly_the_expected_minute_rows_and_running_it_again_changes_nothing()
    {
        var pool = await _s.ProviderWithPool("Qinghai", gpus: 8, ask: 1_500);
        var programId = await _s.Program();
        await _s.Approve(programId, pool.ProviderId);
        var (tenant, _) = await _s.Tenant();
        var voucher = await _s.ActiveVoucher(programId, tenant, 1_000_000);
        var first = Minute(_s.Now);
        var withVoucher = (await _s.Bid(tenant, _s.Order(gpus: 2, hours: 3, maxPrice: 1_500, provinces: ["Qinghai"], voucherId: voucher.Id))).Fills.Single();
        web.Advance(TimeSpan.FromMinutes(1));
        var second = Minute(_s.Now);
        var cashOnly = (await _s.Bid(tenant, _s.Order(gpus: 1, hours: 2, maxPrice: 1_500, provinces: ["Qinghai"]))).Fills.Single();
        Assert.True(withVoucher.VoucherFen > 0);
        Assert.Equal(1_500 * 2 * 3, withVoucher.VoucherFen + withVoucher.CashFen);
        Assert.Equal((0L, 1_500L * 2), (cashOnly.VoucherFen, cashOnly.CashFen));

        Assert.True(await Rollup.RunAsync(_s.Now, compact: true, wait: true, CancellationToken.None));

        Assert.Equal(
        [
            $"minute {first:O} 1 fill, 6 GPU-h, {withVoucher.VoucherFen} voucher, {withVoucher.CashFen} cash",
            $"minute {second:O} 1 fill, 2 GPU-h, 0 voucher, 3000 cash",
        ], await FillRowsAsync(pool.Id));
        // Both fills start at the next hour: listed now, none booked in this hour.
        Assert.Equal([$"minute {second:O} Qinghai 1 sample, 8 listed, 0 booked"], await UtilizationRowsAsync(pool.Id));
        var takeUp = await TakeUpRowsAsync(programId);
        Assert.Equal([$"minute {second:O} issued 1000000, held {withVoucher.VoucherFen}, spent 0, returned 0, lapsed 0"], takeUp);

        var before = (await FillRowsAsync(pool.Id)).Concat(await UtilizationRowsAsync(pool.Id)).Concat(takeUp).ToList();
        Assert.True(await Rollup.RunAsync(_s.Now, compact: true, wait: true, CancellationToken.None));
        var after = (await FillRowsAsync(pool.Id)).Concat(await UtilizationRowsAsync(pool.Id)).Concat(await TakeUpRowsAsync(programId)).ToList();
        Assert.Equal(before, after);
    }

    [Fact]
    public async Task Compaction_turns_day_old_minute_rows_into_the_expected_hour_rows_and_running_it_again_changes_nothing()
    {
        var pool = await _s.ProviderWithPool("Xizang", gpus: 4, ask: 1_200);
        var (tenant, _) = await _s.Tenant();
        var hour = Hour(_s.Now);
        var fills = new List<Fill>();
        // Three minutes of one hour, a fill in two of them; each minute is rolled up as it passes.
        for (var minute = 0; minute < 3; minute++)
        {
            if (minute != 1)
            {
                fills.Add((await _s.Bid(tenant, _s.Order(gpus: 1, hours: 1 + minute, maxPrice: 1_200, provinces: ["Xizang"]))).Fills.Single());
            }
            Assert.True(await Rollup.RunAsync(_s.Now, compact: true, wait: true, CancellationToken.None));
            web.Advance(TimeSpan.FromMinutes(1));
        }
        Assert.Equal(3, (await UtilizationRowsAsync(pool.Id)).Count);
        Assert.Equal(2, (await FillRowsAsync(pool.Id)).Count);
        // Only minutes from the same hour are expected in one hour row.
        Assert.Equal(hour, Hour(_s.Now.AddMinutes(-3)));

        web.Advance(HistoryRollup.MinutesKeptFor + TimeSpan.FromHours(1));
        var now = _s.Now;
        Assert.True(await Rollup.RunAsync(now, compact: true, wait: true, CancellationToken.None));

        var expectedFills = new[] { $"hour {hour:O} 2 fill, 4 GPU-h, 0 voucher, 4800 cash" };
        var expectedUse = new[] { $"hour {hour:O} Xizang 3 sample, 12 listed, 0 booked", $"minute {Minute(now):O} Xizang 1 sample, 4 listed, 0 booked" };
        Assert.Equal(1_200 * (1 + 3), fills.Sum(f => f.CashFen));
        Assert.Equal(expectedFills, await FillRowsAsync(pool.Id));
        Assert.Equal(expectedUse, await UtilizationRowsAsync(pool.Id));

        Assert.True(await Rollup.RunAsync(now, compact: true, wait: true, CancellationToken.None));
        Assert.Equal(expectedFills, await FillRowsAsync(pool.Id));
        Assert.Equal(expectedUse, await UtilizationRowsAsync(pool.Id));
    }

    [Fact]
    public async Task Utilization_history_and_take_up_read_in_compute_from_the_catalogue_leaving_out_models_without_a_published_figure()
    {
        // Only this test lists in Fujian: 8 H800 (989 dense BF16 TFLOPS each in the catalogue) and 4 Ascend 910B (no published figure).
        const int h800Tflops = 989;
        var h800 = await _s.ProviderWithPool("Fujian", gpus: 8, ask: 1_500);
        var ascend = await _s.ProviderWithPool("Fujian", model: "Ascend910B-64G", gpus: 4, ask: 900);
        var programId = await _s.Program();
        await _s.Approve(programId, h800.ProviderId);
        await _s.Approve(programId, ascend.ProviderId);
        var (tenant, _) = await _s.Tenant();
        var voucher = await _s.ActiveVoucher(programId, tenant, 1_000_000);
        // From the next hour: the voucher pays its share of 2 H800 for 3 hours and of 1 Ascend for 2 hours; 1 H800 for 1 hour is cash only.
        var funded = (await _s.Bid(tenant, _s.Order(gpus: 2, hours: 3, maxPrice: 1_500, provinces: ["Fujian"], voucherId: voucher.Id))).Fills.Single();
        var fundedAscend = (await _s.Bid(tenant, _s.Order(gpus: 1, hours: 2, maxPrice: 900, model: "Ascend910B-64G", provinces: ["Fujian"],
            voucherId: voucher.Id))).Fills.Single();
        var cash = (await _s.Bid(tenant, _s.Order(gpus: 1, hours: 1, maxPrice: 1_500, provinces: ["Fujian"]))).Fills.Single();
        Assert.Equal((true, true, 0L), (funded.VoucherFen > 0, fundedAscend.VoucherFen > 0, cash.VoucherFen));

        // An hour on, all three run: 3 of the 8 H800 and 1 of the 4 Ascend are booked.
        web.Advance(TimeSpan.FromHours(1));
        Assert.True(await Rollup.RunAsync(_s.Now, compact: false, wait: true, CancellationToken.None));
        var history = await (await web.Regulator().GetAsync("/api/v1/history/utilization?range=hour&province=Fujian")).Read<History<UtilizationPoint>>();
        var point = Assert.Single(history.Points);
        Assert.Equal(("Fujian", 12.0, 4.0, 8.0 * h800Tflops, 3.0 * h800Tflops),
            (point.Key, point.ListedGpus, point.BookedGpus, point.ListedTflops, point.BookedTflops));
        var wire = (await (await web.Regulator().GetAsync("/api/v1/history/utilization?range=hour&province=Fujian")).Read<JsonElement>()).GetProperty("points")[0];
        Assert.Equal((7_912.0, 2_967.0), (wire.GetProperty("listedTflops").GetDouble(), wire.GetProperty("bookedTflops").GetDouble()));

        // Funded: 2 × 3 + 1 × 2 = 8 GPU-hours; the 6 H800-hours are 6 × 989 = 5,934 TFLOPS-hours (5.934 PFLOPS-hours), the 2
        // Ascend-hours are named but not counted in compute; the cash-only hour is not the programme's.
        var takeUp = await (await web.Regulator().GetAsync($"/api/v1/programs/{programId}/takeup")).Read<TakeUp>();
        Assert.Equal((8L, 6L * h800Tflops, 2L), (takeUp.FundedGpuHours, takeUp.FundedTflopsHours, takeUp.FundedGpuHoursWithoutTflops));
        var all = await (await web.Regulator().GetAsync("/api/v1/takeup")).Read<List<TakeUp>>();
        Assert.Equal((8L, 5_934L, 2L), all.Where(t => t.ProgramId == programId).Select(t => (t.FundedGpuHours, t.FundedTflopsHours, t.FundedGpuHoursWithoutTflops)).Single());
    }

    [Theory]
    [InlineData("/api/v1/history/utilization?range=month")]
    [InlineData("/api/v1/history/fills?range=")]
    [InlineData("/api/v1/history/takeup?range=HOUR")]
    public async Task A_range_that_is_not_hour_day_or_week_is_a_400_with_its_code(string url)
    {
        var response = await web.Regulator().GetAsync(url);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await response.Read<JsonElement>();
        Assert.Equal("history-range", problem.GetProperty("code").GetString());
    }

    [Fact]
    public async Task A_providers_history_is_its_own_and_a_bad_range_there_is_a_400_with_its_code()
    {
        var pool = await _s.ProviderWithPool("Hainan", gpus: 2, ask: 900);
        var provider = web.Provider(pool.ProviderId);
        var bad = await provider.GetAsync($"/api/v1/providers/{pool.ProviderId}/history?range=year");
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Equal("history-range", (await bad.Read<JsonElement>()).GetProperty("code").GetString());

        Assert.True(await Rollup.RunAsync(_s.Now, compact: false, wait: true, CancellationToken.None));
        var own = await (await provider.GetAsync($"/api/v1/providers/{pool.ProviderId}/history?range=hour")).Read<JsonElement>();
        var points = own.GetProperty("utilization").EnumerateArray().ToList();
        Assert.Equal([(pool.Id, 2.0)], points.Select(p => (p.GetProperty("key").GetString(), p.GetProperty("listedGpus").GetDouble())).ToList());

        var other = Scenario.Unique("prov");
        Assert.Equal(HttpStatusCode.NotFound, (await web.Provider(other).GetAsync($"/api/v1/providers/{pool.ProviderId}/history?range=hour")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await provider.GetAsync("/api/v1/history/utilization?range=hour")).StatusCode);
    }

    private Task<List<string>> FillRowsAsync(string poolId) => RowsAsync(
        "SELECT grain, bucket, fills, gpu_hours, voucher_fen, cash_fen FROM history_fills WHERE pool_id = @k ORDER BY grain, bucket", poolId,
        r => $"{r.GetString(0)} {r.GetFieldValue<DateTimeOffset>(1):O} {r.GetInt64(2)} fill, {r.GetInt64(3)} GPU-h, {r.GetInt64(4)} voucher, {r.GetInt64(5)} cash");

    private Task<List<string>> UtilizationRowsAsync(string poolId) => RowsAsync(
        "SELECT grain, bucket, province, samples, listed_gpus, booked_gpus FROM history_utilization WHERE pool_id = @k ORDER BY grain, bucket", poolId,
        r => $"{r.GetString(0)} {r.GetFieldValue<DateTimeOffset>(1):O} {r.GetString(2)} {r.GetInt32(3)} sample, {r.GetInt64(4)} listed, {r.GetInt64(5)} booked");

    private Task<List<string>> TakeUpRowsAsync(string programId) => RowsAsync(
        "SELECT grain, bucket, issued_fen, held_fen, spent_fen, returned_fen, lapsed_fen FROM history_takeup WHERE program_id = @k ORDER BY grain, bucket",
        programId,
        r => $"{r.GetString(0)} {r.GetFieldValue<DateTimeOffset>(1):O} issued {r.GetInt64(2)}, held {r.GetInt64(3)}, spent {r.GetInt64(4)}, " +
            $"returned {r.GetInt64(5)}, lapsed {r.GetInt64(6)}");

    private async Task<List<string>> RowsAsync(string sql, string key, Func<NpgsqlDataReader, string> read)
    {
        await using var connection = new NpgsqlConnection(web.Database.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        command.Parameters.AddWithValue("k", key);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<string>();
        while (await reader.ReadAsync())
        {
            rows.Add(read(reader));
        }
        return rows;
    }
}
