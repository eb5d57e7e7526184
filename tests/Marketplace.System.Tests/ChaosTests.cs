using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Marketplace.Data;
using Marketplace.Storage;
using Marketplace.Testing;
using Xunit;
using Xunit.Abstractions;

namespace Marketplace.System.Tests;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ChaosCollection
{
    public const string Name = "chaos";
}

/// <summary>
/// Faults under load, with real processes on loopback: silos killed or stopped, PostgreSQL restarted, a silo killed at
/// each saga step. Afterwards every accepted bid is accounted for and the invariant checker finds nothing.
/// </summary>
[Collection(ChaosCollection.Name)]
public sealed class ChaosTests(ITestOutputHelper output)
{
    private const string Model = "H800-80G";

    /// <summary>Fast recovery: the sweeper ticks every second and treats a saga pending for 3 s as orphaned.</summary>
    private static readonly Dictionary<string, string?> FastRecovery = new()
    {
        ["Market__SweepInterval"] = "00:00:01",
        ["Market__StaleAfter"] = "00:00:03",
        ["Market__HoldTtl"] = "00:00:05",
    };

    [Fact]
    public async Task Killing_one_silo_then_another_loses_nothing_accepted_and_only_delays_requests()
    {
        await using var system = await ProcessCluster.StartAsync(silos: 3, siloSettings: FastRecovery, label: "failover");
        await MarketSeed.ProvidersAsync(system, Model);
        await using var stream = BidStream.Start(await MarketSeed.TenantsAsync(system, 4), Model, TimeSpan.FromSeconds(120), 50_000);
        await stream.WaitForFillsAsync(30, TimeSpan.FromSeconds(60));

        foreach (var victim in new[] { 1, 2 })
        {
            var killedAt = DateTimeOffset.UtcNow;
            system.Silos[victim]!.Kill();
            await stream.WaitForFillsAsync(20, TimeSpan.FromSeconds(60));
            var firstAfter = stream.Fills.Where(f => f.Sent > killedAt).Select(f => f.At).DefaultIfEmpty(DateTimeOffset.MaxValue).Min();
            output.WriteLine($"silo {victim} killed: first fill of a bid sent after the kill came {(firstAfter - killedAt).TotalMilliseconds:F0} ms after it");

            system.StartSilo(victim);
            await WaitForMembersAsync(system, 3);
            await stream.WaitForFillsAsync(20, TimeSpan.FromSeconds(60));
        }
        await stream.StopAsync();
        output.WriteLine($"answers: {stream.Describe()}");

        AssertOnlyRetryableFailures(stream);
        await AssertAccountedForAsync(system, stream);
    }

    [Fact]
    public async Task Stopping_a_silo_gracefully_under_load_fails_no_request()
    {
        await using var system = await ProcessCluster.StartAsync(silos: 3, siloSettings: FastRecovery, label: "graceful");
        await MarketSeed.ProvidersAsync(system, Model);
        await using var stream = BidStream.Start(await MarketSeed.TenantsAsync(system, 4), Model, TimeSpan.FromSeconds(90), 50_000);
        await stream.WaitForFillsAsync(30, TimeSpan.FromSeconds(60));

        system.Silos[1]!.Terminate();
        await system.Silos[1]!.WaitForExitAsync(TimeSpan.FromSeconds(45));
        await stream.WaitForFillsAsync(30, TimeSpan.FromSeconds(60));
        await stream.StopAsync();
        output.WriteLine($"answers: {stream.Describe()}; silo 1 exited with {system.Silos[1]!.ExitCode}");

        Assert.All(stream.Answers, a => Assert.Equal((int)HttpStatusCode.Created, a.Status));
        await AssertAccountedForAsync(system, stream);
    }

    [Fact]
    public async Task Restarting_PostgreSQL_under_load_answers_503_meanwhile_and_recovers_by_itself()
    {
        await using var postgres = await PrivatePostgres.StartAsync("dbfault");
        await using var system = await ProcessCluster.StartAsync(silos: 1, siloSettings: FastRecovery, label: "dbfault", server: postgres.ServerConnectionString);
        await MarketSeed.ProvidersAsync(system, Model);
        await using var stream = BidStream.Start(await MarketSeed.TenantsAsync(system, 4), Model, TimeSpan.FromSeconds(120), 50_000);
        await stream.WaitForFillsAsync(30, TimeSpan.FromSeconds(60));

        var downAt = DateTimeOffset.UtcNow;
        await postgres.StopAsync();
        await WaitForAnswersAsync(stream, a => a.Sent > downAt && a.Status == 503, 10, TimeSpan.FromSeconds(60));
        var upAt = DateTimeOffset.UtcNow;
        await postgres.StartAgainAsync();
        await stream.WaitForFillsAsync(30, TimeSpan.FromSeconds(90));
        await stream.StopAsync();

        var whileDown = stream.Answers.Where(a => a.Sent > downAt && a.At < upAt).ToList();
        output.WriteLine($"answers: {stream.Describe()}; while PostgreSQL was down: {whileDown.Count} answers, " +
            $"{whileDown.Count(a => a.Status == 503)} of them 503, median {Median(whileDown.Select(a => (a.At - a.Sent).TotalMilliseconds)):F0} ms each");
        Assert.Contains(whileDown, a => a.Status == 503 && a.RetryAfter);
        AssertOnlyRetryableFailures(stream);
        await AssertAccountedForAsync(system, stream);
    }

    /// <summary>
    /// The market's batch writer killed between deciding a fill and its commit, and just after the commit before anything
    /// was answered: the client hears only a retryable failure, sends the same request again, and gets one fill either
    /// way, written once (nothing lost, nothing sold twice).
    /// </summary>
    [Fact]
    public async Task A_silo_killed_around_a_fills_commit_loses_nothing_answered_and_sells_nothing_twice()
    {
        await using var system = await ProcessCluster.StartAsync(silos: 1, siloSettings: FastRecovery, label: "fillcrash");
        var providers = await MarketSeed.ProvidersAsync(system, Model, provinces: ["Gansu"]);
        var (tenantId, sme) = (await MarketSeed.TenantsAsync(system, 1))[0];
        var voucherId = await VoucherAsync(system, sme, providers[0]);
        var bids = new List<string>();

        foreach (var step in new[] { "fill-decided", "fill-committed" })
        {
            // The silo is restarted with the fault armed; it kills itself once a market passes the step.
            system.Silos[0]!.Kill();
            var phase = global::System.Diagnostics.Stopwatch.StartNew();
            system.StartSilo(0, new Dictionary<string, string?>(FastRecovery) { ["Faults__CrashSagaAfter"] = step });
            await system.WaitUntilReadyAsync(TimeSpan.FromSeconds(60));
            output.WriteLine($"{step}: armed silo ready after {phase.ElapsedMilliseconds} ms");

            var start = Hours.ToTime(Hours.Floor(DateTimeOffset.UtcNow) + 5 + bids.Count);
            var key = $"crash-{step}";
            var request = new
            {
                gpuModel = Model, gpuCount = 2, durationHours = 2, earliestStart = start, latestStart = start, maxFenPerGpuHour = 5_000,
                voucherId, timeInForce = "IOC", clientOrderId = key,
            };
            var answer = await sme.PostAsJsonAsync("/api/v1/bids", request);
            output.WriteLine($"{step}: bid answered {(int)answer.StatusCode} after {phase.ElapsedMilliseconds} ms");
            await system.Silos[0]!.WaitForExitAsync(TimeSpan.FromSeconds(30));
            var bidId = Ids.Bid(tenantId, key);
            bids.Add(bidId);
            // The silo died in this bid's fill, and the client was told to try again, not that the bid was placed.
            Assert.Contains(system.Silos[0]!.Output, l => l.Contains($"after saga step {step} of reservation {bidId}-", StringComparison.Ordinal));
            Assert.Equal(HttpStatusCode.ServiceUnavailable, answer.StatusCode);

            system.StartSilo(0, FastRecovery);
            await system.WaitUntilReadyAsync(TimeSpan.FromSeconds(60));
            output.WriteLine($"{step}: plain silo ready after {phase.ElapsedMilliseconds} ms");

            // The client sends the same request again: the bid is filled once, whether the first commit happened or not.
            var again = await sme.PostAsJsonAsync("/api/v1/bids", request);
            var bid = await again.Content.ReadFromJsonAsync<JsonElement>();
            output.WriteLine($"{step}: sent again, answered {(int)again.StatusCode}: {bid.GetProperty("state").GetString()}");
            Assert.Equal(HttpStatusCode.Created, again.StatusCode);
            Assert.Equal("Filled", bid.GetProperty("state").GetString());
            var fill = bid.GetProperty("fills").EnumerateArray().Single();
            Assert.Equal($"{bidId}-1", fill.GetProperty("reservationId").GetString());
            Assert.Equal(1, await system.Database.ScalarAsync<long>("SELECT count(*) FROM reservations WHERE bid_id = @b", ("b", bidId)));
        }

        var states = await system.Database.ScalarAsync<string>("SELECT string_agg(state, ',' ORDER BY id) FROM reservations");
        output.WriteLine($"reservations: {states}");
        Assert.DoesNotContain("Pending", states);
        await AssertAccountedForAsync(system, bids);
    }

    private static async Task<string> VoucherAsync(ProcessCluster system, HttpClient sme, string providerId)
    {
        using var admin = await system.ClientAsync(Names.Roles.Admin);
        var opens = DateTimeOffset.UtcNow.AddDays(-1);
        (await admin.PostAsJsonAsync("/api/v1/programs", new
        {
            id = "chaos-bj", name = "Chaos test programme", issuer = "Test", province = "Beijing", claimOpensAt = opens, claimClosesAt = opens.AddYears(1),
            budgetFen = 100_000_000, voucherCapFen = 5_000_000, coverageBasisPoints = 8_000, allowedTenantKinds = new[] { "Sme" },
            registrationDeadlineDays = 15, validityDays = 90,
        })).EnsureSuccessStatusCode();
        (await admin.PutAsJsonAsync($"/api/v1/programs/chaos-bj/providers/{providerId}", new { batchId = "b1", effectiveFrom = opens }))
            .EnsureSuccessStatusCode();
        var voucher = await (await sme.PostAsJsonAsync("/api/v1/programs/chaos-bj/vouchers", new { })).Content.ReadFromJsonAsync<JsonElement>();
        var id = voucher.GetProperty("id").GetString()!;
        (await sme.PostAsJsonAsync($"/api/v1/vouchers/{id}/activity", new { title = "Training", description = "Fine-tuning", plannedGpuHours = 100 }))
            .EnsureSuccessStatusCode();
        return id;
    }

    /// <summary>A silo death may delay a request or answer it 503 with Retry-After; never a 500, never a dropped connection.</summary>
    private static void AssertOnlyRetryableFailures(BidStream stream)
    {
        var failures = stream.Answers.Where(a => a.Status != (int)HttpStatusCode.Created).ToList();
        Assert.All(failures, a => Assert.True(a.Status == 503 && a.RetryAfter, $"a request failed with {a.Status}"));
    }

    private async Task AssertAccountedForAsync(ProcessCluster system, BidStream stream) =>
        await AssertAccountedForAsync(system, stream.AcceptedBidIds);

    private async Task AssertAccountedForAsync(ProcessCluster system, IReadOnlyList<string> acceptedBids)
    {
        await WaitUntilSettledAsync(system, TimeSpan.FromSeconds(90));
        var report = await new InvariantChecker(system.Database.DataSource).CheckAsync(DateTimeOffset.UtcNow, acceptedBids, TimeSpan.FromSeconds(1));
        output.WriteLine($"checker: {report.Violations.Count} violations over {string.Join(", ", report.Counts.Select(c => $"{c.Key} {c.Value}"))}");
        Assert.True(report.Clean, string.Join("\n", report.Violations.Take(20)));
        var unaccounted = await system.Database.ScalarAsync<long>(
            "SELECT count(*) FROM unnest(@ids::text[]) a(id) JOIN bids b ON b.id = a.id WHERE b.state NOT IN ('Filled', 'Rejected', 'Resting', 'Expired', 'Cancelled', 'PartiallyFilled')",
            ("ids", acceptedBids.ToArray()));
        Assert.Equal(0, unaccounted);
    }

    /// <summary>Waits until no bid or reservation is left pending (the sweeper finishes what the faults cut short).</summary>
    private static async Task WaitUntilSettledAsync(ProcessCluster system, TimeSpan timeout)
    {
        var deadline = DateTimeOffset.UtcNow + timeout;
        while (await system.Database.ScalarAsync<long>(
                   "SELECT (SELECT count(*) FROM bids WHERE state = 'Pending') + (SELECT count(*) FROM reservations WHERE state = 'Pending')") > 0)
        {
            if (DateTimeOffset.UtcNow > deadline)
            {
                throw new TimeoutException("bids or reservations are still pending:\n" + system.Describe());
            }
            await Task.Delay(250);
        }
    }

    private static async Task WaitForMembersAsync(ProcessCluster system, int active)
    {
        var deadline = DateTimeOffset.UtcNow + TimeSpan.FromSeconds(60);
        while (await system.Database.ScalarAsync<long>("SELECT count(*) FROM orleansmembershiptable WHERE status = 3") < active)
        {
            if (DateTimeOffset.UtcNow > deadline)
            {
                throw new TimeoutException("the restarted silo did not join:\n" + system.Describe());
            }
            await Task.Delay(250);
        }
    }

    private static async Task WaitForAnswersAsync(BidStream stream, Func<BidAnswer, bool> match, int count, TimeSpan timeout)
    {
        var deadline = DateTimeOffset.UtcNow + timeout;
        while (stream.Answers.Count(match) < count)
        {
            if (DateTimeOffset.UtcNow > deadline)
            {
                throw new TimeoutException($"not enough matching answers: {stream.Describe()}");
            }
            await Task.Delay(50);
        }
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count == 0 ? 0 : sorted[sorted.Count / 2];
    }
}
