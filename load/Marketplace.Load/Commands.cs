using System.Diagnostics;

namespace Marketplace.Load;

/// <summary>The tool's verbs.</summary>
public static class Commands
{
    public const string Usage = """
        usage: Marketplace.Load demo  --url URL [--rate ACTIONS_PER_S] [--tenants N]
               Marketplace.Load bench --url URL (--rate BIDS_PER_S | --concurrency C) [--duration S] [--warmup S] [--tenants N]
                                      [--max-in-flight N] [--check-db CONNSTRING] [--out DIR] [--label TEXT] [--watch name=pid ...]
               Marketplace.Load signin --url URL [--count N] [--concurrency C] [--email E --password P] [--out DIR]
               Marketplace.Load check --db CONNSTRING
               Marketplace.Load backtest [--seed N] [--programmes N] [--out FILE]
        demo and bench sign in as the admin API client named by MARKETPLACE_CLIENT_ID and MARKETPLACE_CLIENT_SECRET (the web
        tier's Accounts:AutomationClientId and Accounts:AutomationClientSecret) and make one API client per organisation.
        """;

    public static int Unknown(string verb)
    {
        Console.Error.WriteLine($"error: unknown verb '{verb}'\n{Usage}");
        return 2;
    }

    public static async Task<int> DemoAsync(Options options, CancellationToken stop)
    {
        Reject(options, "url", "rate", "tenants", "pool-gpus");
        using var api = new Api(Url(options));
        var tally = new Tally();
        var setup = new Setup(api, Automation.FromEnvironment(), Log);
        var market = await WaitForMarketAsync(() => setup.RunAsync(DemoOrganisations.TenantPrefix, options.Integer("tenants", 16, 1, 500), options.Integer("pool-gpus", 256, 1, 100_000),
            DateTimeOffset.UtcNow, stop), stop);
        var hubs = await ConnectAsync(api.BaseUrl, market.Tenants, tally.PushedFill, stop);
        try
        {
            var bids = new Bids(api, tally, $"demo-{DateTimeOffset.UtcNow:yyyyMMddHHmmss}", new BidMix(VoucherShare: 0.3, GtcShare: 0.3, LowballShare: 0.4));
            var rate = options.Number("rate", 3, 0.1, 200);
            Log($"demo activity at about {rate} actions/s; Ctrl-C stops it");
            await Task.WhenAll(new Demo(api, bids, tally, market, rate, Log).RunAsync(stop), Progress.ShowAsync("demo", tally, live: false, stop));
        }
        finally
        {
            foreach (var hub in hubs)
            {
                await hub.DisposeAsync();
            }
        }
        return 0;
    }

    public static async Task<int> BenchAsync(Options options, CancellationToken abort)
    {
        Reject(options, "url", "rate", "concurrency", "duration", "warmup", "tenants", "max-in-flight", "check-db", "out", "label", "watch", "pool-gpus",
            "tenant-prefix", "voucher-share");
        var rate = options.Text("rate") is null ? (double?)null : options.Number("rate", 0, 0.1, 100_000);
        var concurrency = options.Text("concurrency") is null ? (int?)null : options.Integer("concurrency", 0, 1, 10_000);
        if (rate is null == concurrency is null)
        {
            throw new ArgumentException("give either --rate (open loop) or --concurrency (closed loop)");
        }
        var duration = TimeSpan.FromSeconds(options.Number("duration", 30, 1, 3_600));
        var warmup = TimeSpan.FromSeconds(options.Number("warmup", 5, 0, 600));
        var maxInFlight = options.Integer("max-in-flight", 512, 1, 100_000);
        var cpu = ProcessCpu.Of(options.All("watch").Append($"load-tool={Environment.ProcessId}"));
        using var api = new Api(Url(options));
        var market = await WaitForMarketAsync(() => new Setup(api, Automation.FromEnvironment(), Log).RunAsync(options.Text("tenant-prefix", "bench"), options.Integer("tenants", 32, 1, 2_000),
            options.Integer("pool-gpus", 1024, 1, 100_000), DateTimeOffset.UtcNow, abort), abort);
        var mix = new BidMix(VoucherShare: options.Number("voucher-share", 0.1, 0, 1), GtcShare: 0.2, LowballShare: 0);
        var runId = $"{DateTimeOffset.UtcNow:yyyyMMdd-HHmmss}-{(rate is { } r ? $"r{r:F0}" : $"c{concurrency}")}";

        var tally = new Tally();
        var current = new Tally();
        var hubs = await ConnectAsync(api.BaseUrl, market.Tenants, (id, at) => Volatile.Read(ref current).PushedFill(id, at), abort);
        try
        {
            var plan = new BenchPlan(rate, concurrency, duration, maxInFlight, TimeSpan.FromSeconds(30));
            if (warmup > TimeSpan.Zero)
            {
                Log($"warming up for {warmup.TotalSeconds:F0} s");
                Volatile.Write(ref current, new Tally());
                await new Bench(new Bids(api, current, $"{runId}-w", mix), current, market.Tenants).RunAsync(plan with { Duration = warmup, Drain = TimeSpan.FromSeconds(10) }, abort);
            }
            Volatile.Write(ref current, tally);
            var bids = new Bids(api, tally, runId, mix);
            var startedAt = DateTimeOffset.UtcNow;
            cpu.Start();
            using var progressStop = CancellationTokenSource.CreateLinkedTokenSource(abort);
            var progress = Progress.ShowAsync($"bench {(rate is { } v ? $"{v:F0} bids/s" : $"{concurrency} workers")}", tally, live: true, progressStop.Token);
            var sending = await new Bench(bids, tally, market.Tenants).RunAsync(plan, abort);
            var cores = cpu.Cores();
            await progressStop.CancelAsync();
            await progress;

            var confirmation = options.Text("check-db") is { } db
                ? await Confirm.ViaDatabaseAsync(db, tally, abort)
                : await Confirm.ViaApiAsync(api, tally, bids.Owners, 500, abort);
            var durable = tally.InState(nameof(BidState.Filled));
            var states = Enum.GetNames<BidState>().Select(s => (s, tally.InState(s))).Where(p => p.Item2 > 0).ToDictionary(p => p.s, p => p.Item2);
            var result = new BenchResult(runId, options.Text("label", "unlabelled"), startedAt, rate is null ? "closed" : "open", rate, concurrency,
                Math.Round(sending.TotalSeconds, 1), tally.Sent, tally.Accepted, tally.Shed, tally.Refused, tally.Errors, states,
                new Dictionary<string, long>(tally.RejectReasons), new Dictionary<string, long>(tally.Refusals), new Dictionary<string, long>(tally.ErrorKinds),
                Math.Round(tally.Accepted / sending.TotalSeconds, 1), durable, Math.Round(durable / sending.TotalSeconds, 1), tally.PushFills, tally.PushedBeforeAnswer,
                tally.Api.Total(), tally.Push.Total(), confirmation, cores, Machine.Describe());
            var file = await result.WriteAsync(options.Text("out") ?? DefaultResults());
            Console.WriteLine(result.Markdown());
            Console.WriteLine($"written {file}");
            return confirmation.InvariantsClean == false ? 1 : 0;
        }
        finally
        {
            foreach (var hub in hubs)
            {
                await hub.DisposeAsync();
            }
        }
    }

    /// <summary>What signing in costs: client credentials, the dashboards' code flow with PKCE and refresh, and token validation.</summary>
    public static async Task<int> SignInAsync(Options options, CancellationToken stop)
    {
        Reject(options, "url", "count", "concurrency", "email", "password", "out");
        var signIn = new SignIn(Url(options), Automation.FromEnvironment(), options.Text("email", DemoOrganisations.SmeEmail),
            options.Text("password", DemoOrganisations.Password), Log);
        var result = await signIn.RunAsync(options.Integer("count", 400, 4, 100_000), options.Integer("concurrency", 8, 1, 1_000), stop);
        Console.WriteLine(result.Markdown());
        Console.WriteLine($"written {await result.WriteAsync(options.Text("out") ?? DefaultResults())}");
        return 0;
    }

    public static async Task<int> CheckAsync(Options options, CancellationToken stop)
    {
        Reject(options, "db");
        var db = options.Text("db") ?? throw new ArgumentException("--db CONNSTRING is required");
        return await Confirm.CheckAsync(db, Console.Out, stop);
    }

    /// <summary>
    /// The programme forecast's backtest on simulated programmes: the forecast at day 60 against day 120, printed and
    /// appended to BENCHMARKS.md (or --out).
    /// </summary>
    public static int Backtest(Options options)
    {
        Reject(options, "seed", "programmes", "out");
        var seed = options.Integer("seed", 1, 0, 1_000_000);
        var programmes = options.Integer("programmes", 20, 1, 1_000);
        var file = options.Text("out") ?? Path.Combine(DefaultResults(), "BENCHMARKS.md");
        var started = Stopwatch.StartNew();
        var report = Marketplace.Load.Backtest.Report(seed, programmes, Console.WriteLine);
        Log($"{programmes} programmes simulated and forecast in {started.Elapsed.TotalSeconds:F1} s");
        File.AppendAllText(file, $"""

            ## Forecast backtest, {DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC

            `dotnet load/Marketplace.Load/bin/Release/net10.0/Marketplace.Load.dll backtest --seed {seed} --programmes {programmes}`: each
            programme (20 million yuan, Beijing's rules: 50,000 yuan cap, 15 days to register, 3 months' validity) is simulated a
            Beijing day at a time (firms claiming on working days at a rate that grows, registering or letting the voucher lapse,
            spending on rentals, letting the rest expire); the forecast made from days 0–59 is compared with days 60–120.

            {report}
            """);
        Log($"appended to {file}");
        return 0;
    }

    private static void Log(string message) => Console.WriteLine($"[{DateTimeOffset.UtcNow:HH:mm:ss}] {message}");

    private static Uri Url(Options options)
    {
        var text = options.Text("url") ?? throw new ArgumentException("--url is required");
        if (!Uri.TryCreate(text, UriKind.Absolute, out var url) || !url.IsLoopback)
        {
            throw new ArgumentException("--url must be an absolute loopback URL (the tool only drives a marketplace on this machine)");
        }
        return url;
    }

    private static void Reject(Options options, params string[] known)
    {
        if (options.Unknown(known) is { Count: > 0 } unknown)
        {
            throw new ArgumentException($"unknown option(s) for {options.Verb}: {string.Join(", ", unknown.Select(u => "--" + u))}");
        }
    }

    /// <summary>Setup is retried while the marketplace is still starting (the demo starts as soon as it answers /readyz).</summary>
    private static async Task<Market> WaitForMarketAsync(Func<Task<Market>> setup, CancellationToken stop)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                return await setup();
            }
            catch (Exception e) when (e is HttpRequestException or InvalidOperationException && clock.Elapsed < TimeSpan.FromMinutes(2) && !stop.IsCancellationRequested)
            {
                Log($"setup did not finish ({e.Message}); trying again");
                await Task.Delay(TimeSpan.FromSeconds(2), stop);
            }
        }
    }

    private static async Task<List<TenantHub>> ConnectAsync(Uri url, IReadOnlyList<Tenant> tenants, Action<string, long> filled, CancellationToken stop)
    {
        var hubs = new List<TenantHub>();
        foreach (var tenant in tenants)
        {
            hubs.Add(await TenantHub.ConnectAsync(url, tenant.Credential, filled, stop));
        }
        return hubs;
    }

    /// <summary>load/results of the repository the tool was built in, or ./results elsewhere.</summary>
    private static string DefaultResults()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Marketplace.sln")))
            {
                return Path.Combine(dir.FullName, "load", "results");
            }
        }
        return Path.Combine(Environment.CurrentDirectory, "results");
    }
}
