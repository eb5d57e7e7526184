using System.Text.Json;
using Marketplace.Testing;
using Xunit;

namespace Marketplace.System.Tests;

/// <summary>The load tool (load/Marketplace.Load) run for real against the real processes, briefly and at a small rate.</summary>
public sealed class LoadToolTests : IAsyncLifetime
{
    private const int Rate = 20;
    private const int Seconds = 4;

    private ProcessCluster _system = null!;
    private DirectoryInfo _results = null!;

    // The admin API client the tool signs in with (client credentials), as run.sh and bench.sh register it.
    private const string AutomationClient = "load-tool-test";
    private static readonly string AutomationSecret = Convert.ToHexString(global::System.Security.Cryptography.RandomNumberGenerator.GetBytes(24));

    private static string LoadDll => Path.Combine(ProcessCluster.RepositoryRoot, "load", "Marketplace.Load", "bin", ProcessCluster.Configuration, "net10.0",
        "Marketplace.Load.dll");

    public async Task InitializeAsync()
    {
        _system = await ProcessCluster.StartAsync(label: "loadtool", webSettings: new Dictionary<string, string?>
        {
            ["Accounts__AutomationClientId"] = AutomationClient,
            ["Accounts__AutomationClientSecret"] = AutomationSecret,
        });
        _results = Directory.CreateTempSubdirectory("marketplace-load-");
    }

    public async Task DisposeAsync()
    {
        await _system.DisposeAsync();
        _results.Delete(recursive: true);
    }

    [Fact]
    public async Task A_bench_run_accounts_for_every_bid_it_sent_as_the_database_has_it_and_the_invariants_hold()
    {
        var (exitCode, output) = await ManagedProcess.RunAsync("dotnet",
        [
            LoadDll, "bench", "--url", _system.WebUrl.ToString(), "--rate", $"{Rate}", "--duration", $"{Seconds}", "--warmup", "0", "--tenants", "4",
            "--out", _results.FullName, "--label", "smoke", "--check-db", _system.Database.ConnectionString,
        ], new Dictionary<string, string?> { ["MARKETPLACE_CLIENT_ID"] = AutomationClient, ["MARKETPLACE_CLIENT_SECRET"] = AutomationSecret },
            TimeSpan.FromMinutes(3));
        Assert.True(exitCode == 0, $"the load tool exited with {exitCode}:\n{string.Join("\n", output.TakeLast(40))}");
        var result = JsonDocument.Parse(await File.ReadAllTextAsync(Assert.Single(_results.GetFiles("bench-*.json")).FullName)).RootElement;

        // Open loop: exactly rate × duration bids were sent, none shed, refused or failed, every one accepted.
        Assert.Equal(Rate * Seconds, result.GetProperty("sent").GetInt64());
        Assert.Equal(0, result.GetProperty("shed").GetInt64());
        Assert.Equal(0, result.GetProperty("refused").GetInt64());
        Assert.Equal(0, result.GetProperty("errors").GetInt64());
        Assert.Equal(Rate * Seconds, result.GetProperty("accepted").GetInt64());

        // Every accepted bid is in the database in the state the tool reports, and the fills it counted from the hub are the filled bids.
        var reported = result.GetProperty("states").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt64());
        var stored = new Dictionary<string, long>();
        await using (var command = _system.Database.DataSource.CreateCommand("SELECT state, count(*) FROM bids GROUP BY state"))
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                stored[reader.GetString(0)] = reader.GetInt64(1);
            }
        }
        Assert.Equal(stored.OrderBy(p => p.Key), reported.OrderBy(p => p.Key));
        Assert.Equal(Rate * Seconds, stored.Values.Sum());
        Assert.DoesNotContain(nameof(BidState.Pending), stored.Keys);
        Assert.Equal(stored.GetValueOrDefault(nameof(BidState.Filled)), result.GetProperty("durableFills").GetInt64());
        Assert.Equal(0, await _system.Database.ScalarAsync<long>("SELECT count(*) FROM bids WHERE state = 'Rejected' AND state_json ->> 'reasonCode' IS NULL"));

        var confirmation = result.GetProperty("confirmation");
        Assert.Equal("database", confirmation.GetProperty("method").GetString());
        Assert.Equal(0, confirmation.GetProperty("mismatches").GetInt64());
        Assert.True(confirmation.GetProperty("invariantsClean").GetBoolean());
        await LedgerAssert.Clean(_system.Database, DateTimeOffset.UtcNow);
    }
}
