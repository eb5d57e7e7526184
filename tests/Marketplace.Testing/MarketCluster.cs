using System.Collections.Concurrent;
using Marketplace.Silo;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Orleans.TestingHost;
using Xunit;

namespace Marketplace.Testing;

/// <summary>
/// One Orleans test cluster per xunit collection: real silos (TCP, ADO.NET membership, grain storage and reminders on a
/// database of the fixture's own) and a fake market clock the tests move by hand. Grain ids in tests are unique, so the
/// tests of a collection share the cluster without depending on each other.
/// </summary>
public class MarketCluster : IAsyncLifetime
{
    internal const string KeySetting = "MarketplaceTest:Key";
    private static readonly ConcurrentDictionary<string, MarketCluster> Running = new();

    private TestCluster? _cluster;
    private TestDatabase? _database;

    /// <summary>Market time starts at a whole hour plus ten minutes, so hour arithmetic in tests is exact.</summary>
    public static readonly DateTimeOffset Start = new(2026, 11, 23, 2, 10, 0, TimeSpan.Zero);

    public FakeTimeProvider Clock { get; } = new(Start);
    public TestCluster Cluster => _cluster ?? throw new InvalidOperationException("the cluster is not started");
    public TestDatabase Database => _database ?? throw new InvalidOperationException("the database is not created");
    public IGrainFactory Grains => Cluster.Client;
    public string Key { get; } = Guid.NewGuid().ToString("N");

    /// <summary>Silos to start with.</summary>
    protected virtual short Silos => 1;

    /// <summary>Extra settings for the silos (the "Market" section and so on).</summary>
    protected virtual IReadOnlyDictionary<string, string?> Settings => new Dictionary<string, string?>();

    public virtual async Task InitializeAsync()
    {
        _database = await TestDatabase.CreateAsync(GetType().Name);
        Running[Key] = this;
        var builder = new TestClusterBuilder(Silos);
        builder.Options.UseTestClusterMembership = false;
        builder.Options.ConnectionTransport = ConnectionTransportType.TcpSocket;
        builder.Options.ConfigureFileLogging = false;
        builder.Properties[KeySetting] = Key;
        builder.Properties["Market:SweepInterval"] = "00:00:00";
        builder.Properties["Market:PushInterval"] = "00:00:00.100";
        foreach (var (name, value) in Settings)
        {
            builder.Properties[name] = value;
        }
        builder.AddSiloBuilderConfigurator<SiloConfigurator>();
        builder.AddClientBuilderConfigurator<ClientConfigurator>();
        _cluster = builder.Build();
        await _cluster.DeployAsync();
    }

    public virtual async Task DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.StopAllSilosAsync();
            await _cluster.DisposeAsync();
        }
        Running.TryRemove(Key, out _);
        if (_database is not null)
        {
            await _database.DisposeAsync();
        }
    }

    /// <summary>Stops every silo and starts the same number again: every grain must come back from the database.</summary>
    public virtual async Task RestartSilosAsync()
    {
        var count = Cluster.GetActiveSilos().Count();
        foreach (var silo in Cluster.GetActiveSilos().ToList())
        {
            await Cluster.StopSiloAsync(silo);
        }
        for (var i = 0; i < count; i++)
        {
            await Cluster.StartAdditionalSiloAsync();
        }
        await Cluster.WaitForLivenessToStabilizeAsync();
        // The client finds the new gateways within its one-second refresh; wait until a call goes through.
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await Grains.GetGrain<Marketplace.Grains.IUtilizationGrain>(0).GetSnapshot(long.MaxValue);
                return;
            }
            catch (Exception) when (attempt < 100)
            {
                await Task.Delay(100);
            }
        }
    }

    /// <summary>Moves market time forward (vouchers lapse and expire, reservations start and end, holds time out).</summary>
    public void Advance(TimeSpan by) => Clock.Advance(by);

    internal static MarketCluster Of(IConfiguration configuration) =>
        Running[configuration[KeySetting] ?? throw new InvalidOperationException("not a marketplace test cluster")];

    private sealed class SiloConfigurator : ISiloConfigurator
    {
        public void Configure(ISiloBuilder siloBuilder)
        {
            var cluster = Of(siloBuilder.Configuration);
            siloBuilder.Services.AddKeyedSingleton<TimeProvider>(Names.ClockKeys.Market, cluster.Clock);
            siloBuilder.AddMarketplace(cluster.Database.ConnectionString, siloBuilder.Configuration);
            siloBuilder.ConfigureFailureDetection(fast: true);
        }
    }

    private sealed class ClientConfigurator : IClientBuilderConfigurator
    {
        public void Configure(IConfiguration configuration, IClientBuilder clientBuilder)
        {
            clientBuilder.UseAdoNetClustering(o =>
            {
                o.Invariant = "Npgsql";
                o.ConnectionString = Of(configuration).Database.ConnectionString;
            });
            clientBuilder.Services.Configure<Orleans.Serialization.ExceptionSerializationOptions>(o => o.SupportedNamespacePrefixes.Add("Npgsql"));
            clientBuilder.Configure<Orleans.Configuration.GatewayOptions>(o => o.GatewayListRefreshPeriod = TimeSpan.FromSeconds(1));
        }
    }
}
