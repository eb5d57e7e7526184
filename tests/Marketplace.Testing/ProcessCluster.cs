using System.Net.Http.Json;
using Microsoft.AspNetCore.SignalR.Client;

namespace Marketplace.Testing;

/// <summary>
/// The system as it runs for real: silo processes and a web process, started from the built binaries, on loopback
/// ports of their own, against a test database. Silos can be killed, terminated and started again.
/// </summary>
public sealed class ProcessCluster : IAsyncDisposable, IApiClients
{
    public const string SigningKey = "process-test-signing-key-0123456789abcdef";

    /// <summary>
    /// Development tokens on, signed with <see cref="SigningKey"/>: a web tier in Development trusts them only when turned
    /// on. The web tiers the tests start (here and through run.sh) get these, and the tests sign in with them.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string?> DevTokenSettings = new Dictionary<string, string?>
    {
        ["Auth__SigningKey"] = SigningKey,
        ["Auth__DevTokens"] = "true",
    };

    private readonly List<ManagedProcess?> _silos = [];
    private readonly Dictionary<string, string?> _common;
    private readonly Dictionary<string, string?> _webSettings;

    private readonly string _label;

    private ProcessCluster(string label, TestDatabase database, Dictionary<string, string?> common, Dictionary<string, string?> webSettings)
    {
        _label = label;
        Database = database;
        _common = common;
        _webSettings = webSettings;
        WebPort = ManagedProcess.FreePort();
    }

    public TestDatabase Database { get; }
    public int WebPort { get; }
    public Uri WebUrl => new($"http://127.0.0.1:{WebPort}");
    public ManagedProcess? Web { get; private set; }
    public IReadOnlyList<ManagedProcess?> Silos => _silos;

    /// <summary>Each silo's /healthz and /metrics port.</summary>
    public Dictionary<int, int> SiloHttpPorts { get; } = [];

    /// <summary>Each silo's silo-to-silo and gateway ports.</summary>
    public Dictionary<int, (int Silo, int Gateway)> SiloPorts { get; } = [];

    /// <summary>The cluster's id (and service id).</summary>
    public string ClusterId => _common["Orleans__ClusterId"]!;

    /// <summary>The repository's root: MARKETPLACE_ROOT, or found above the test binaries' folder.</summary>
    public static string RepositoryRoot { get; } = FindRoot();

    /// <summary>The configuration the tests were built in (the services are built in the same one).</summary>
    public static string Configuration => AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}") ? "Release" : "Debug";

    public static string SiloDll => Path.Combine(RepositoryRoot, "silo", "Marketplace.Silo", "bin", Configuration, "net10.0", "Marketplace.Silo.dll");
    public static string WebDll => Path.Combine(RepositoryRoot, "web", "Marketplace.Web", "bin", Configuration, "net10.0", "Marketplace.Web.dll");

    public static async Task<ProcessCluster> StartAsync(int silos = 1, IReadOnlyDictionary<string, string?>? siloSettings = null,
        IReadOnlyDictionary<string, string?>? webSettings = null, string label = "system", string? server = null,
        Func<TestDatabase, Task<IReadOnlyDictionary<string, string?>>>? prepare = null)
    {
        var database = await TestDatabase.CreateAsync(label, server);
        var clusterId = $"sys-{Guid.NewGuid():N}"[..16];
        var common = new Dictionary<string, string?>
        {
            ["ConnectionStrings__Marketplace"] = database.ConnectionString,
            ["Orleans__ClusterId"] = clusterId,
            ["Orleans__ServiceId"] = clusterId,
            ["Orleans__FastFailureDetection"] = "true",
            ["DOTNET_gcServer"] = "0",
            ["Logging__LogLevel__Default"] = "Warning",
        };
        foreach (var (key, value) in siloSettings ?? new Dictionary<string, string?>())
        {
            common[key] = value;
        }
        // Settings that need the database first (a role made on it, say), for silos and the web tier.
        foreach (var (key, value) in prepare is null ? new Dictionary<string, string?>() : await prepare(database))
        {
            common[key] = value;
        }
        var web = new Dictionary<string, string?>
        {
            ["ASPNETCORE_ENVIRONMENT"] = "Development",
            // The account mail (a confirmation link, say) is written to the web tier's log: the tests read it there.
            ["Logging__LogLevel__Marketplace.Web.Accounts.AccountMail"] = "Information",
            ["Orleans__GatewayListRefreshPeriod"] = "00:00:01",
            ["RateLimiting__PermitsPerSecond"] = "100000",
            ["RateLimiting__Burst"] = "100000",
        };
        foreach (var (key, value) in DevTokenSettings.Concat(webSettings ?? new Dictionary<string, string?>()))
        {
            web[key] = value;
        }
        var cluster = new ProcessCluster(label, database, common, web);
        for (var i = 0; i < silos; i++)
        {
            cluster._silos.Add(null);
        }
        for (var i = 0; i < silos; i++)
        {
            cluster.StartSilo(i);
        }
        cluster.StartWeb();
        await cluster.WaitUntilReadyAsync(TimeSpan.FromSeconds(90));
        return cluster;
    }

    /// <param name="settings">Settings for this start only (e.g. a fault to inject), over the cluster's.</param>
    public ManagedProcess StartSilo(int index, IReadOnlyDictionary<string, string?>? settings = null)
    {
        var env = new Dictionary<string, string?>(_common)
        {
            ["Orleans__SiloPort"] = ManagedProcess.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Orleans__GatewayPort"] = ManagedProcess.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Orleans__HttpPort"] = ManagedProcess.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Database__MigrateOnStart"] = "false",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            env[key] = value;
        }
        _silos[index]?.CloseLog(); // its successor appends to the same log
        var silo = ManagedProcess.Start($"{_label}-silo-{index}", "dotnet", [SiloDll], env);
        _silos[index] = silo;
        SiloHttpPorts[index] = int.Parse(env["Orleans__HttpPort"]!, System.Globalization.CultureInfo.InvariantCulture);
        SiloPorts[index] = (int.Parse(env["Orleans__SiloPort"]!, System.Globalization.CultureInfo.InvariantCulture),
            int.Parse(env["Orleans__GatewayPort"]!, System.Globalization.CultureInfo.InvariantCulture));
        return silo;
    }

    private void StartWeb()
    {
        var env = new Dictionary<string, string?>(_common)
        {
            ["ASPNETCORE_URLS"] = WebUrl.ToString().TrimEnd('/'),
            // The sign-in returns to pages of the address the tests browse.
            ["Auth__Oidc__Issuer"] = WebUrl.ToString(),
        };
        foreach (var (key, value) in _webSettings)
        {
            env[key] = value;
        }
        Web = ManagedProcess.Start($"{_label}-web", "dotnet", [WebDll], env);
    }

    /// <summary>
    /// Waits until /readyz says Healthy: the web tier reaches the cluster now. (It answers 200 Degraded for a few seconds
    /// after the cluster last answered, so that a silo's death does not take the web tier out of a load balancer; that
    /// is not yet a cluster the next request can reach.)
    /// </summary>
    public async Task WaitUntilReadyAsync(TimeSpan timeout)
    {
        using var http = new HttpClient { BaseAddress = WebUrl, Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTimeOffset.UtcNow + timeout;
        while (true)
        {
            try
            {
                var answer = await http.GetAsync("/readyz");
                if (answer.IsSuccessStatusCode && await answer.Content.ReadAsStringAsync() == "Healthy")
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // not listening yet
            }
            catch (TaskCanceledException)
            {
                // not answering yet
            }
            if (DateTimeOffset.UtcNow > deadline)
            {
                throw new TimeoutException($"the system did not become ready:\n{Describe()}");
            }
            await Task.Delay(200);
        }
    }

    /// <summary>A client acting as <paramref name="role"/>, with a token from the development token endpoint.</summary>
    public async Task<HttpClient> ClientAsync(string role, string? tenantId = null, string? providerId = null)
    {
        var http = new HttpClient { BaseAddress = WebUrl, Timeout = TimeSpan.FromSeconds(60) };
        var token = await TokenAsync(role, tenantId, providerId);
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        return http;
    }

    /// <summary>A started SignalR client of the market hub over WebSockets, as a dashboard of <paramref name="role"/> connects.</summary>
    public async Task<HubClient> HubAsync(string role, string? tenantId = null, string? providerId = null)
    {
        var token = await TokenAsync(role, tenantId, providerId);
        var hub = new HubClient(new HubConnectionBuilder()
            .WithUrl(new Uri(WebUrl, Names.Hub.Path), o =>
            {
                o.AccessTokenProvider = () => Task.FromResult<string?>(token);
                o.Transports = Microsoft.AspNetCore.Http.Connections.HttpTransportType.WebSockets;
                o.SkipNegotiation = true;
            })
            .Build());
        await hub.StartAsync();
        return hub;
    }

    public async Task<string> TokenAsync(string role, string? tenantId = null, string? providerId = null)
    {
        using var http = new HttpClient { BaseAddress = WebUrl };
        var response = await http.PostAsJsonAsync("/api/v1/auth/dev-token", new { role, tenantId, providerId });
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>()).GetProperty("token").GetString()!;
    }

    public string Describe() => string.Join("\n", _silos.Append(Web).Where(p => p is not null)
        .Select(p => $"--- {p!.Name} ({(p.HasExited ? $"exited {p.ExitCode}" : "running")})\n{string.Join("\n", p.Output.TakeLast(30))}"));

    public async ValueTask DisposeAsync()
    {
        if (Web is not null)
        {
            await Web.DisposeAsync();
        }
        foreach (var silo in _silos.Where(s => s is not null))
        {
            await silo!.DisposeAsync();
        }
        await Database.DisposeAsync();
    }

    private static string FindRoot()
    {
        if (Environment.GetEnvironmentVariable("MARKETPLACE_ROOT") is { Length: > 0 } root)
        {
            return root;
        }
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Marketplace.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("the repository root (Marketplace.sln) was not found above the test binaries");
    }
}
