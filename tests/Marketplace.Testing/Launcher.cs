using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;

namespace Marketplace.Testing;

/// <summary>
/// <c>run.sh</c> as a developer runs it, started by a test on ports and a data directory of its own (<c>--data</c>,
/// <c>--pg-port</c>, <c>--silo-ports</c>, <c>--port</c>), so that it never meets a developer's <c>./run.sh</c>. At the end
/// its PostgreSQL cluster is deleted, and its logs too (or moved to MARKETPLACE_TEST_LOGS when set).
/// </summary>
public sealed class Launcher : IAsyncDisposable, IApiClients
{
    /// <summary>What run.sh prints once the marketplace is ready and supervised.</summary>
    public const string RunningBanner = "Press Ctrl-C to stop.";

    private Launcher(string data, int webPort, int pgPort, (int Silo, int Gateway, int Http) siloPorts, ManagedProcess process)
    {
        Data = data;
        WebPort = webPort;
        PgPort = pgPort;
        SiloPorts = siloPorts;
        Process = process;
    }

    public string Data { get; }
    public int WebPort { get; }
    public int PgPort { get; }

    /// <summary>Silo 0's ports; silo i listens on each plus i.</summary>
    public (int Silo, int Gateway, int Http) SiloPorts { get; }

    public ManagedProcess Process { get; }
    public Uri WebUrl => new($"http://127.0.0.1:{WebPort}");
    public string ConnectionString => $"Host=127.0.0.1;Port={PgPort};Username=marketplace;Password=marketplace;Database=marketplace";
    public string LogsDirectory => Path.Combine(ProcessCluster.RepositoryRoot, ".data", "logs", Data);

    /// <param name="environment">Settings for every process run.sh starts (they inherit its environment).</param>
    public static Launcher Start(int silos, IReadOnlyDictionary<string, string?> environment, string label = "launcher")
    {
        var data = $"{label}-{Guid.NewGuid():N}"[..(label.Length + 9)];
        var webPort = ManagedProcess.FreePort();
        var pgPort = ManagedProcess.FreePort();
        var bases = FreePortRuns(3, silos);
        var siloPorts = (bases[0], bases[1], bases[2]);
        var process = ManagedProcess.Start($"{data}-run.sh", "bash",
            [Path.Combine(ProcessCluster.RepositoryRoot, "run.sh"), "--silos", silos.ToString(CultureInfo.InvariantCulture), "--no-demo",
                "--port", webPort.ToString(CultureInfo.InvariantCulture), "--data", data, "--pg-port", pgPort.ToString(CultureInfo.InvariantCulture),
                "--silo-ports", $"{siloPorts.Item1},{siloPorts.Item2},{siloPorts.Item3}"],
            WithDevTokens(environment), ProcessCluster.RepositoryRoot);
        return new Launcher(data, webPort, pgPort, siloPorts, process);
    }

    /// <summary>The environment with development tokens on for run.sh's web tier: <see cref="ClientAsync"/> signs in with them.</summary>
    private static Dictionary<string, string?> WithDevTokens(IReadOnlyDictionary<string, string?> environment)
    {
        var all = new Dictionary<string, string?>(environment);
        foreach (var (key, value) in ProcessCluster.DevTokenSettings)
        {
            all[key] = value;
        }
        return all;
    }

    /// <summary>Waits until run.sh says the marketplace is running (ready, and its processes supervised).</summary>
    public async Task WaitUntilRunningAsync(TimeSpan timeout)
    {
        var deadline = DateTimeOffset.UtcNow + timeout;
        while (!Process.Output.Any(l => l.Trim() == RunningBanner))
        {
            if (Process.HasExited || DateTimeOffset.UtcNow > deadline)
            {
                throw new TimeoutException($"run.sh did not start the marketplace:\n{Describe()}");
            }
            await Task.Delay(200);
        }
    }

    /// <summary>The pid run.sh wrote for one of its processes (silo-0, web, ...), or null while none is running.</summary>
    public int? PidOf(string name)
    {
        var file = Path.Combine(LogsDirectory, $"{name}.pid");
        try
        {
            return int.TryParse(File.ReadAllText(file).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) ? pid : null;
        }
        catch (FileNotFoundException)
        {
            return null;
        }
    }

    public async Task<HttpClient> ClientAsync(string role, string? tenantId = null, string? providerId = null)
    {
        string token;
        using (var http = new HttpClient { BaseAddress = WebUrl })
        {
            var response = await http.PostAsJsonAsync("/api/v1/auth/dev-token", new { role, tenantId, providerId });
            response.EnsureSuccessStatusCode();
            token = (await response.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>()).GetProperty("token").GetString()!;
        }
        var client = new HttpClient { BaseAddress = WebUrl, Timeout = TimeSpan.FromSeconds(60) };
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    public string Describe()
    {
        var logs = Directory.Exists(LogsDirectory)
            ? Directory.GetFiles(LogsDirectory, "*.log").Order().Select(f => $"--- {Path.GetFileName(f)}\n{string.Join("\n", File.ReadLines(f).TakeLast(15))}")
            : [];
        return $"--- run.sh ({(Process.HasExited ? $"exited {Process.ExitCode}" : "running")})\n{string.Join("\n", Process.Output.TakeLast(40))}\n{string.Join("\n", logs)}";
    }

    /// <summary>Stops run.sh if it still runs (SIGTERM, as Ctrl-C), then deletes its PostgreSQL cluster and its logs (moved to MARKETPLACE_TEST_LOGS when set).</summary>
    public async ValueTask DisposeAsync()
    {
        if (!Process.HasExited)
        {
            Process.Terminate();
            try
            {
                await Process.WaitForExitAsync(TimeSpan.FromSeconds(60));
            }
            catch (OperationCanceledException)
            {
                // DisposeAsync kills what is left.
            }
        }
        await Process.DisposeAsync();
        await ManagedProcess.RunAsync("bash",
            ["-c", $"source '{Path.Combine(ProcessCluster.RepositoryRoot, "scripts", "lib.sh")}' && mk_pg_destroy '{Data}'"],
            new Dictionary<string, string?>(), TimeSpan.FromSeconds(60));
        if (Directory.Exists(LogsDirectory))
        {
            // Kept with the other test processes' output when test.sh collects it (MARKETPLACE_TEST_LOGS).
            if (Environment.GetEnvironmentVariable("MARKETPLACE_TEST_LOGS") is { Length: > 0 } folder)
            {
                Directory.CreateDirectory(folder);
                Directory.Move(LogsDirectory, Path.Combine(folder, Data));
            }
            else
            {
                Directory.Delete(LogsDirectory, recursive: true);
            }
        }
    }

    /// <summary>
    /// <paramref name="runs"/> first ports of <paramref name="length"/> consecutive free ports each, none overlapping, below the
    /// ephemeral range and away from run.sh's defaults (11111+, 30000+, 9090+).
    /// </summary>
    private static int[] FreePortRuns(int runs, int length)
    {
        var found = new List<int>();
        for (var attempt = 0; found.Count < runs; attempt++)
        {
            if (attempt > 1_000)
            {
                throw new InvalidOperationException("no free ports between 15000 and 29999");
            }
            var first = Random.Shared.Next(15_000, 30_000 - length);
            if (found.Any(f => first < f + length && f < first + length) || !Enumerable.Range(first, length).All(IsFree))
            {
                continue;
            }
            found.Add(first);
        }
        return [.. found];
    }

    private static bool IsFree(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Any, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
