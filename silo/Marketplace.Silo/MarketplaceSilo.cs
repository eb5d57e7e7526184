using Marketplace.Grains;
using Marketplace.Data;
using Marketplace.Storage;
using Marketplace.Data.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using Orleans.Configuration;
using Orleans.Dashboard;
using Orleans.Serialization;

namespace Marketplace.Silo;

/// <summary>How a silo of the marketplace is put together; shared by the silo process and the test clusters.</summary>
public static class MarketplaceSilo
{
    private const string Invariant = "Npgsql";

    /// <summary>
    /// PostgreSQL for membership, grain storage and reminders, plus the marketplace's own services. Endpoints and
    /// cluster identity are the caller's (the silo process reads them from settings; test clusters assign their own).
    /// </summary>
    public static ISiloBuilder AddMarketplace(this ISiloBuilder silo, string connectionString, IConfiguration configuration)
    {
        silo.UseAdoNetClustering(o =>
        {
            o.Invariant = Invariant;
            o.ConnectionString = connectionString;
        });
        silo.AddAdoNetGrainStorage(Names.Storage.Grains, o =>
        {
            o.Invariant = Invariant;
            o.ConnectionString = connectionString;
        });
        silo.UseAdoNetReminderService(o =>
        {
            o.Invariant = Invariant;
            o.ConnectionString = connectionString;
        });
        silo.Services.AddMarketplaceGrains(connectionString, configuration);
        silo.Services.Configure<ExceptionSerializationOptions>(o => o.SupportedNamespacePrefixes.Add("Npgsql"));
        // A grain call continues the caller's trace (and so does the PostgreSQL work it does).
        silo.AddActivityPropagation();
        silo.AddIncomingGrainCallFilter<GrainCallScope>();
        silo.AddIncomingGrainCallFilter<StorageFaultFilter>();
        // Collects what the Orleans dashboard shows; the web tier serves it to admins.
        silo.AddDashboard(o => o.HideTrace = true);
        silo.AddStartupTask(static (services, cancellation) =>
        {
            // In the background: a silo that starts during a failover may not reach the grain's directory partition until
            // the dead silo is declared dead, and a failed start-up task would stop this silo too.
            _ = StartSweeperAsync(services);
            return Task.CompletedTask;
        });
        return silo;
    }

    /// <summary>Registers the sweeper's reminder (idempotent), trying again until the cluster answers or the silo stops.</summary>
    private static async Task StartSweeperAsync(IServiceProvider services)
    {
        var stopping = services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping;
        var logger = services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(MarketplaceSilo));
        for (var attempt = 1; !stopping.IsCancellationRequested; attempt++)
        {
            try
            {
                await services.GetRequiredService<IGrainFactory>().GetGrain<ISweeperGrain>(0).Start();
                return;
            }
            catch (Exception e) when (!stopping.IsCancellationRequested)
            {
                logger.LogWarning(e, "Starting the sweeper failed (attempt {Attempt}); trying again", attempt);
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(Math.Min(attempt, 10)), stopping);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    public static IServiceCollection AddMarketplaceGrains(this IServiceCollection services, string connectionString, IConfiguration configuration)
    {
        services.TryAddSingleton(_ => Database.CreateDataSource(connectionString));
        services.TryAddSingleton(sp => new CommitBatcher(sp.GetRequiredService<NpgsqlDataSource>()));
        services.TryAddSingleton<PoolStore>();
        services.TryAddSingleton<BidStore>();
        services.TryAddSingleton<ComputeBidStore>();
        services.TryAddSingleton<ReservationStore>();
        services.TryAddSingleton<VoucherStore>();
        services.TryAddSingleton<CashStore>();
        services.TryAddSingleton<ProgramStore>();
        services.TryAddSingleton<CompanyStore>();
        services.TryAddSingleton<SagaFaults>();
        services.TryAddSingleton<MarketStore>();
        services.TryAddSingleton<LedgerChain>();
        services.AddHostedService<LedgerSealer>();
        services.AddHostedService<ComputeBidViewBackfill>();
        // The market's clock; tests register a fake one first.
        services.TryAddKeyedSingleton(Names.ClockKeys.Market, TimeProvider.System);
        services.AddOptions<Marketplace.Domain.MarketLimits>().Bind(configuration.GetSection(Marketplace.Domain.MarketLimits.Section))
            .ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<MarketOptions>().Bind(configuration.GetSection(MarketOptions.Section)).ValidateDataAnnotations().ValidateOnStart();
        return services;
    }

    /// <summary>Membership timing: production defaults, or about one second to declare a silo dead.</summary>
    public static ISiloBuilder ConfigureFailureDetection(this ISiloBuilder silo, bool fast)
    {
        if (fast)
        {
            silo.Configure<ClusterMembershipOptions>(o =>
            {
                o.ProbeTimeout = TimeSpan.FromSeconds(1);
                o.NumMissedProbesLimit = 2;
                o.NumVotesForDeathDeclaration = 1;
                o.TableRefreshTimeout = TimeSpan.FromSeconds(2);
                o.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(5);
                o.DeathVoteExpirationTimeout = TimeSpan.FromSeconds(10);
            });
        }
        return silo;
    }

    /// <summary>
    /// Applies the schema (Orleans scripts and the marketplace's migrations), creating the database if needed; then, given
    /// <paramref name="appRole"/>, creates or updates the role the processes connect as and grants it what they need.
    /// </summary>
    public static async Task<IReadOnlyList<SchemaScript>> MigrateAsync(string connectionString, AppRoleSettings? appRole = null,
        CancellationToken cancellationToken = default)
    {
        await Database.EnsureExistsAsync(connectionString, cancellationToken);
        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        var applied = await new SchemaMigrator(dataSource).MigrateAsync(cancellationToken);
        if (appRole?.AppRole is { Length: > 0 } role)
        {
            await ApplicationRole.GrantAsync(dataSource, role, appRole.AppRolePassword!, cancellationToken);
        }
        return applied;
    }
}
