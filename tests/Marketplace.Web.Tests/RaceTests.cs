using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Marketplace.Data;
using Marketplace.Testing;
using Xunit;
using Xunit.Abstractions;

namespace Marketplace.Web.Tests;

public sealed class RaceCluster : WebCluster;

[CollectionDefinition(Name)]
public sealed class RaceCollection : ICollectionFixture<RaceCluster>
{
    public const string Name = "race";
}

/// <summary>Rule 4 under contention: many clients, more demand than capacity, through the public API.</summary>
[Collection(RaceCollection.Name)]
public sealed class RaceTests(RaceCluster web, ITestOutputHelper output)
{
    private const string Model = "H20-96G";

    [Fact]
    public async Task Eight_clients_placing_2000_bids_against_too_little_capacity_never_oversell_and_account_for_every_bid()
    {
        var api = new Api(web);
        var s = new Scenario(web);
        // Three small pools: 4 + 6 + 8 GPUs over a 12-hour window is 216 GPU-hours; the bids ask for several times that.
        var pools = new List<PoolView>();
        foreach (var (province, gpus) in new[] { ("Gansu", 4), ("Guizhou", 6), ("Beijing", 8) })
        {
            var (providerId, provider) = await api.Provider(province);
            pools.Add(await api.Pool(provider, providerId, Model, gpus, ask: 700 + gpus));
        }
        var program = await s.Program(d => d with { CoverageBasisPoints = 8_000, AllowMultipleOpenVouchers = true });
        foreach (var pool in pools.Take(2))
        {
            await s.Approve(program, pool.ProviderId);
        }
        var clients = new List<(string TenantId, HttpClient Client, string VoucherId)>();
        for (var i = 0; i < 8; i++)
        {
            var (tenantId, client) = await api.Tenant();
            clients.Add((tenantId, client, (await s.ActiveVoucher(program, tenantId, amountFen: 300_000)).Id));
        }

        var firstHour = Hours.FirstBookable(s.Now);
        var answers = new List<(int Status, JsonElement? Bid)>();
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(clients.Select(async (c, worker) =>
        {
            var random = new Random(worker);
            for (var i = 0; i < 250; i++)
            {
                var start = Hours.ToTime(firstHour + random.Next(0, 10));
                var gtc = random.Next(4) == 0;
                var body = new
                {
                    gpuModel = Model,
                    gpuCount = random.Next(1, 4),
                    durationHours = random.Next(1, 4),
                    earliestStart = start,
                    latestStart = start.AddHours(random.Next(0, 3)),
                    maxFenPerGpuHour = random.Next(2) == 0 ? 710 : 2_000,
                    voucherId = random.Next(3) == 0 ? c.VoucherId : null,
                    timeInForce = gtc ? "GTC" : "IOC",
                    goodUntil = gtc ? s.Now.AddHours(6) : (DateTimeOffset?)null,
                };
                var response = await c.Client.PostJson("/api/v1/bids", body, $"race-{worker}-{i}");
                JsonElement? bid = response.StatusCode == HttpStatusCode.Created ? await response.Read<JsonElement>() : null;
                lock (answers)
                {
                    answers.Add(((int)response.StatusCode, bid));
                }
                if (bid is { } placed && i % 25 == 0 && placed.GetProperty("state").GetString() == "Resting")
                {
                    Assert.Equal(HttpStatusCode.OK, (await c.Client.DeleteAsync($"/api/v1/bids/{placed.GetProperty("id").GetString()}")).StatusCode);
                }
            }
        }));
        var elapsed = clock.Elapsed;

        Assert.All(answers, a => Assert.Equal(201, a.Status));
        var accepted = answers.Select(a => a.Bid!.Value.GetProperty("id").GetString()!).ToList();
        Assert.Equal(2_000, accepted.Distinct().Count());

        // Every accepted bid is stored and in a final or resting state, each rejection with its reason.
        var states = await web.Database.ScalarAsync<string>("""
            SELECT string_agg(state || ':' || n, ',' ORDER BY state) FROM (
              SELECT state, count(*) n FROM bids WHERE id = ANY(@ids) GROUP BY state) s
            """, ("ids", accepted.ToArray()));
        output.WriteLine($"bid states: {states}");
        Assert.Equal(0, await web.Database.ScalarAsync<long>(
            "SELECT count(*) FROM bids WHERE id = ANY(@ids) AND (state = 'Pending' OR (state = 'Rejected' AND state_json ->> 'reasonCode' IS NULL))",
            ("ids", accepted.ToArray())));
        Assert.Equal(2_000, await web.Database.ScalarAsync<long>("SELECT count(*) FROM bids WHERE id = ANY(@ids)", ("ids", accepted.ToArray())));

        // Capacity sold equals the sum of the fills, and never more than a pool's GPUs in any hour.
        var soldByReservations = await web.Database.ScalarAsync<long>(
            "SELECT coalesce(sum(gpus * (least(end_hour, released_from_hour) - start_hour)), 0) FROM reservations WHERE state IN ('Confirmed', 'Active', 'Completed')");
        var soldByFills = await web.Database.ScalarAsync<long>("""
            SELECT coalesce(sum((f ->> 'gpus')::bigint * extract(epoch FROM (f ->> 'endsAt')::timestamptz - (f ->> 'startsAt')::timestamptz)::bigint / 3600), 0)
            FROM bids, jsonb_array_elements(state_json -> 'fills') f WHERE bids.gpu_model = @m
            """, ("m", Model));
        var heldByPools = await web.Database.ScalarAsync<long>(
            "SELECT coalesce(sum(gpus * hours), 0) FROM pool_holds WHERE pool_id = ANY(@p) AND confirmed", ("p", pools.Select(p => p.Id).ToArray()));
        Assert.Equal(soldByReservations, soldByFills);
        Assert.Equal(soldByReservations, heldByPools);
        Assert.True(soldByReservations > 0);
        var report = await LedgerAssert.Clean(web.Database, s.Now, accepted);

        var fills = await web.Database.ScalarAsync<long>("SELECT count(*) FROM reservations WHERE state IN ('Confirmed', 'Active', 'Completed')");
        var writes = await web.Database.ScalarAsync<long>("""
            SELECT (SELECT coalesce(sum(version), 0) FROM bids) + (SELECT coalesce(sum(version), 0) FROM reservations)
                 + (SELECT coalesce(sum(version), 0) FROM pools) + (SELECT coalesce(sum(version - 1), 0) FROM vouchers)
            """);
        output.WriteLine($"2000 bids in {elapsed.TotalSeconds:F1} s ({2000 / elapsed.TotalSeconds:F0} bids/s through the API, 8 clients); " +
            $"{fills} fills, {soldByReservations} GPU-hours sold; {writes} grain state writes = {writes / (double)Math.Max(1, fills):F1} per fill; " +
            $"checker clean over {string.Join(", ", report.Counts.Select(c => $"{c.Key} {c.Value}"))}");
    }
}
