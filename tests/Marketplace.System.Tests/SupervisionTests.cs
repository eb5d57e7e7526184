using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Marketplace.Testing;
using Npgsql;
using Xunit;
using Xunit.Abstractions;

namespace Marketplace.System.Tests;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SupervisionCollection
{
    public const string Name = "supervision";
}

/// <summary>
/// run.sh supervises what it starts: a silo that dies is started again on its own ports while the rest keeps serving,
/// and only Ctrl-C or SIGTERM stops the marketplace.
/// </summary>
[Collection(SupervisionCollection.Name)]
public sealed class SupervisionTests(ITestOutputHelper output)
{
    private const string Model = "H800-80G";
    private const int Active = 3; // Orleans' SiloStatus.Active in the membership table

    [Fact]
    public async Task A_silo_killed_under_run_sh_is_restarted_on_its_ports_while_the_marketplace_stays_ready()
    {
        var clock = global::System.Diagnostics.Stopwatch.StartNew();
        await using var launcher = Launcher.Start(silos: 2, new Dictionary<string, string?>
        {
            ["DOTNET_gcServer"] = "0",
            ["Logging__LogLevel__Default"] = "Warning",
            ["Orleans__GatewayListRefreshPeriod"] = "00:00:01",
            ["RateLimiting__PermitsPerSecond"] = "100000",
            ["RateLimiting__Burst"] = "100000",
        }, label: "supervision");
        await launcher.WaitUntilRunningAsync(TimeSpan.FromSeconds(180));
        output.WriteLine($"run.sh running after {clock.ElapsedMilliseconds} ms");
        await using var db = NpgsqlDataSource.Create(launcher.ConnectionString);
        var siloOnePort = launcher.SiloPorts.Silo + 1;
        var pids = new[] { "silo-0", "silo-1", "web" }.ToDictionary(n => n, n => launcher.PidOf(n) ?? throw new InvalidOperationException($"no pid file for {n}"));
        // run.sh is ready once the web tier can serve, which needs one active silo: silo 1 may still be joining.
        var generationBefore = await SiloOneActiveAsync(db, siloOnePort, newerThan: null, launcher, "silo 1 did not become active");

        await MarketSeed.ProvidersAsync(launcher, Model);
        await using var stream = BidStream.Start(await MarketSeed.TenantsAsync(launcher, 4), Model, TimeSpan.FromSeconds(120), 50_000);
        await stream.WaitForFillsAsync(30, TimeSpan.FromSeconds(60));

        using var stopPolling = new CancellationTokenSource();
        var readiness = new ConcurrentQueue<(DateTimeOffset At, string Answer)>();
        var polling = PollReadinessAsync(launcher.WebUrl, readiness, stopPolling.Token);

        var killedAt = DateTimeOffset.UtcNow;
        using (var victim = global::System.Diagnostics.Process.GetProcessById(pids["silo-1"]))
        {
            victim.Kill(); // SIGKILL
        }
        await stream.WaitForFillsAsync(20, TimeSpan.FromSeconds(60));
        var firstAfter = stream.Fills.Where(f => f.Sent > killedAt).Select(f => f.At).DefaultIfEmpty(DateTimeOffset.MaxValue).Min();
        output.WriteLine($"silo 1 killed: first fill of a bid sent after the kill came {(firstAfter - killedAt).TotalMilliseconds:F0} ms after it");

        // Back on its own ports as a new member: a newer generation of silo 1 active, beside silo 0.
        await SiloOneActiveAsync(db, siloOnePort, newerThan: generationBefore, launcher, "silo 1 did not come back");
        var rejoined = DateTimeOffset.UtcNow;
        output.WriteLine($"silo 1 active again {(rejoined - killedAt).TotalMilliseconds:F0} ms after the kill");
        var restarted = launcher.PidOf("silo-1");
        Assert.NotNull(restarted);
        Assert.NotEqual(pids["silo-1"], restarted);
        Assert.Contains(launcher.Process.Output, l => l.Contains($"] silo-1 (pid {pids["silo-1"]}) exited with code 137 after ", StringComparison.Ordinal)
            && l.EndsWith(" s; restarting it in 1 s", StringComparison.Ordinal));
        Assert.Contains(launcher.Process.Output, l => l.EndsWith($"] restarted silo-1 (pid {restarted}); log: .data/logs/{launcher.Data}/silo-1.log", StringComparison.Ordinal));
        Assert.Equal(pids["silo-0"], launcher.PidOf("silo-0"));
        Assert.Equal(pids["web"], launcher.PidOf("web"));

        await stream.WaitForFillsAsync(20, TimeSpan.FromSeconds(60));
        Assert.Contains(stream.Fills, f => f.Sent > rejoined);
        await stream.StopAsync();
        stopPolling.Cancel();
        await polling;
        output.WriteLine($"answers: {stream.Describe()}; /readyz: {string.Join(", ", readiness.GroupBy(r => r.Answer).Select(g => $"{g.Key} ×{g.Count()}"))}");

        // Healthy, or Degraded while the cluster moves the dead silo's grains: ready (200) either way.
        Assert.NotEmpty(readiness);
        Assert.All(readiness, r => Assert.StartsWith("200 ", r.Answer, StringComparison.Ordinal));
        var failures = stream.Answers.Where(a => a.Status != (int)HttpStatusCode.Created).ToList();
        Assert.All(failures, a => Assert.True(a.Status == 503 && a.RetryAfter, $"a request failed with {a.Status}"));

        // Stopped as Ctrl-C stops it: every process it started ends, its PostgreSQL too.
        var stopping = global::System.Diagnostics.Stopwatch.StartNew();
        launcher.Process.Terminate();
        await launcher.Process.WaitForExitAsync(TimeSpan.FromSeconds(60));
        output.WriteLine($"run.sh stopped in {stopping.ElapsedMilliseconds} ms; the test took {clock.Elapsed.TotalSeconds:F0} s");
        Assert.Equal(0, launcher.Process.ExitCode);
        Assert.EndsWith($"] stopped; the data is kept in .data/{launcher.Data}", launcher.Process.Output.Last(l => l.Length > 0));
        Assert.All(pids.Values.Append(restarted!.Value), pid => Assert.False(Directory.Exists($"/proc/{pid}"), $"process {pid} is still running"));
        Assert.Empty(Directory.GetFiles(launcher.LogsDirectory, "*.pid"));
        var refused = await Assert.ThrowsAsync<SocketException>(async () =>
        {
            using var tcp = new TcpClient();
            await tcp.ConnectAsync(IPAddress.Loopback, launcher.PgPort);
        });
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
    }

    /// <summary>Asks /readyz every 100 ms until cancelled; each answer's status code and body, or the error that stood for one.</summary>
    private static async Task PollReadinessAsync(Uri url, ConcurrentQueue<(DateTimeOffset, string)> answers, CancellationToken stop)
    {
        using var http = new HttpClient { BaseAddress = url, Timeout = TimeSpan.FromSeconds(10) };
        while (!stop.IsCancellationRequested)
        {
            string answer;
            try
            {
                using var response = await http.GetAsync("/readyz", CancellationToken.None);
                answer = $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                answer = e.GetType().Name + ": " + e.Message;
            }
            answers.Enqueue((DateTimeOffset.UtcNow, answer));
            try
            {
                await Task.Delay(100, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>
    /// Waits up to a minute until silo 1 is active beside silo 0, in a generation newer than <paramref name="newerThan"/>
    /// (any, when null); returns that generation.
    /// </summary>
    private static async Task<int> SiloOneActiveAsync(NpgsqlDataSource db, int siloPort, int? newerThan, Launcher launcher, string failure)
    {
        var deadline = DateTimeOffset.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            if (await ActiveGenerationAsync(db, siloPort) is { } generation && (newerThan is null || generation > newerThan)
                && await ActiveMembersAsync(db) == 2)
            {
                return generation;
            }
            if (DateTimeOffset.UtcNow > deadline)
            {
                throw new TimeoutException($"{failure}:\n{launcher.Describe()}");
            }
            await Task.Delay(250);
        }
    }

    private static async Task<int?> ActiveGenerationAsync(NpgsqlDataSource db, int siloPort)
    {
        await using var command = db.CreateCommand("SELECT max(generation) FROM orleansmembershiptable WHERE port = @port AND status = @active");
        command.Parameters.AddWithValue("port", siloPort);
        command.Parameters.AddWithValue("active", Active);
        return await command.ExecuteScalarAsync() is int generation ? generation : null;
    }

    private static async Task<long> ActiveMembersAsync(NpgsqlDataSource db)
    {
        await using var command = db.CreateCommand("SELECT count(*) FROM orleansmembershiptable WHERE status = @active");
        command.Parameters.AddWithValue("active", Active);
        return (long)(await command.ExecuteScalarAsync())!;
    }
}
