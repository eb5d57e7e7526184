using Marketplace.Grains;
using Marketplace.Silo;
using Marketplace.Storage;
using Marketplace.Storage.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;

// `Marketplace.Silo` runs a silo; `Marketplace.Silo migrate` applies the database schema and exits.
return await StartupCheck.RunAsync(async () =>
{
    var builder = Host.CreateApplicationBuilder(args.Where(a => a != "migrate").ToArray());
    var connectionString = StartupCheck.ConnectionString(builder.Configuration);
    var cluster = StartupCheck.Bind<ClusterSettings>(builder.Configuration, ClusterSettings.Section);
    StartupCheck.Bind<MarketOptions>(builder.Configuration, MarketOptions.Section);
    var migrate = args.Contains("migrate") || builder.Configuration.GetValue("Database:MigrateOnStart", true);
    await StartupCheck.RequireDatabaseAsync(connectionString, serverOnly: migrate);

    if (migrate)
    {
        var applied = await MarketplaceSilo.MigrateAsync(connectionString);
        Console.WriteLine(applied.Count == 0 ? "schema is up to date" : $"applied {string.Join(", ", applied.Select(s => s.Name))}");
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
        silo.ConfigureEndpoints(cluster.ResolveAdvertisedAddress(), cluster.SiloPort, cluster.GatewayPort, listenOnAnyHostAddress: true);
        silo.ConfigureFailureDetection(cluster.FastFailureDetection);
        silo.AddMarketplace(connectionString, builder.Configuration);
    });
    builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(30));

    using var host = builder.Build();
    await host.RunAsync();
    return 0;
});
