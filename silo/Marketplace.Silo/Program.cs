using Marketplace.Grains;
using Marketplace.Silo;
using Marketplace.Data;
using Marketplace.Data.Hosting;
using Orleans.Configuration;
using Orleans.Hosting;
using OpenTelemetry.Metrics;

// `Marketplace.Silo` runs a silo; `Marketplace.Silo migrate` applies the database schema and exits.
return await StartupCheck.RunAsync(async () =>
{
    var builder = WebApplication.CreateBuilder(args.Where(a => a != "migrate").ToArray());
    var connectionString = StartupCheck.ConnectionString(builder.Configuration);
    var cluster = StartupCheck.Bind<ClusterSettings>(builder.Configuration, ClusterSettings.Section);
    StartupCheck.Bind<Marketplace.Domain.MarketLimits>(builder.Configuration, Marketplace.Domain.MarketLimits.Section);
    StartupCheck.Bind<MarketOptions>(builder.Configuration, MarketOptions.Section);
    var appRole = StartupCheck.Bind<AppRoleSettings>(builder.Configuration, AppRoleSettings.Section);
    var migrate = args.Contains("migrate") || builder.Configuration.GetValue("Database:MigrateOnStart", true);
    await StartupCheck.RequireDatabaseAsync(connectionString, serverOnly: migrate);

    if (migrate)
    {
        var applied = await MarketplaceSilo.MigrateAsync(connectionString, appRole);
        Console.WriteLine(applied.Count == 0 ? "schema is up to date" : $"applied {string.Join(", ", applied.Select(s => s.Name))}");
        if (appRole.AppRole is { Length: > 0 })
        {
            Console.WriteLine($"role {appRole.AppRole} may connect, with append-only access to {string.Join(" and ", ApplicationRole.AppendOnlyTables)}");
        }
        if (args.Contains("migrate"))
        {
            return 0;
        }
    }
    else
    {
        await using var db = Npgsql.NpgsqlDataSource.Create(connectionString);
        await new SchemaMigrator(db).RequireCurrentAsync();
    }

    builder.UseOrleans(silo =>
    {
        silo.Configure<ClusterOptions>(o =>
        {
            o.ClusterId = cluster.ClusterId;
            o.ServiceId = cluster.ServiceId;
        });
        var listen = cluster.ResolveListenAddress();
        silo.Configure<EndpointOptions>(o =>
        {
            o.AdvertisedIPAddress = cluster.ResolveAdvertisedAddress();
            o.SiloPort = cluster.SiloPort;
            o.GatewayPort = cluster.GatewayPort;
            o.SiloListeningEndpoint = new System.Net.IPEndPoint(listen, cluster.SiloPort);
            o.GatewayListeningEndpoint = new System.Net.IPEndPoint(listen, cluster.GatewayPort);
        });
        if (cluster.LoadTlsCertificate() is { } certificate)
        {
            silo.UseTls(certificate, o => ClusterTls.Configure(o, certificate));
        }
        silo.ConfigureFailureDetection(cluster.FastFailureDetection);
        silo.AddMarketplace(connectionString, builder.Configuration);
    });
    builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(30));

    // The silo's own small HTTP endpoint: /healthz for orchestrators, /metrics for Prometheus.
    // On the listen address too: metrics and health are for the cluster's own network, not for everyone.
    builder.WebHost.UseUrls($"http://{FormatHost(cluster.ResolveListenAddress())}:{cluster.HttpPort}");
    builder.Services.AddHealthChecks()
        .AddCheck<MembershipHealthCheck>("membership")
        .AddCheck<DatabaseHealthCheck>("database");
    builder.Services.AddMarketplaceTelemetry(builder.Configuration, "marketplace-silo").WithMetrics(metrics => metrics
        .AddMeter(MarketMetrics.MeterName, "Microsoft.Orleans")
        .AddPrometheusExporter());

    await using var app = builder.Build();
    app.MapHealthChecks("/healthz");
    app.MapPrometheusScrapingEndpoint();
    await app.RunAsync();
    return 0;
});

static string FormatHost(System.Net.IPAddress address) =>
    address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{address}]" : address.ToString();
