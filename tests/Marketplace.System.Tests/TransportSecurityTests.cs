using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Marketplace.Grains;
using Marketplace.Data.Hosting;
using Marketplace.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;
using Orleans.Hosting;
using Xunit;

namespace Marketplace.System.Tests;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TransportSecurityCollection
{
    public const string Name = "transport-security";
}

/// <summary>
/// The cluster's ports, as real processes open them: on the configured address only, and, with a cluster certificate,
/// only for peers that present it. Reaching port 30000 used to be enough to call any grain and skip the web tier.
/// </summary>
[Collection(TransportSecurityCollection.Name)]
public sealed class TransportSecurityTests : IAsyncLifetime
{
    private readonly string _folder = Directory.CreateTempSubdirectory("marketplace-tls-").FullName;
    private string _clusterCertificate = "";
    private string _otherCertificate = "";

    public Task InitializeAsync()
    {
        _clusterCertificate = WriteSelfSigned("marketplace-cluster", "cluster.pfx");
        _otherCertificate = WriteSelfSigned("marketplace-cluster", "impostor.pfx");
        return Task.CompletedTask;
    }

    public Task DisposeAsync()
    {
        Directory.Delete(_folder, recursive: true);
        return Task.CompletedTask;
    }

    [Fact]
    public async Task With_a_cluster_certificate_only_a_client_presenting_it_reaches_a_gateway()
    {
        await using var system = await ProcessCluster.StartAsync(silos: 1, label: "transport",
            siloSettings: new Dictionary<string, string?> { ["Orleans__TlsCertificatePath"] = _clusterCertificate });
        var gateway = system.SiloPorts[0].Gateway;

        // The web tier got through (the cluster is ready); so does any client with the certificate, and no other.
        await CallThroughGatewayAsync(system.ClusterId, gateway, _clusterCertificate, TimeSpan.FromSeconds(60));
        // Refused at the handshake: the client never gets a connection (it gives up, or its wait for one ends).
        await Assert.ThrowsAnyAsync<Exception>(() => CallThroughGatewayAsync(system.ClusterId, gateway, certificate: null, TimeSpan.FromSeconds(10)));
        await Assert.ThrowsAnyAsync<Exception>(() => CallThroughGatewayAsync(system.ClusterId, gateway, _otherCertificate, TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task Silo_gateway_and_health_ports_listen_on_the_configured_address_only()
    {
        await using var system = await ProcessCluster.StartAsync(silos: 1, label: "binding");
        var (silo, gateway) = system.SiloPorts[0];
        var listening = ListeningSockets();
        foreach (var port in new[] { silo, gateway, system.SiloHttpPorts[0] })
        {
            Assert.Equal([$"127.0.0.1:{port}"], listening.Where(l => l.EndsWith($":{port}", StringComparison.Ordinal)).ToList());
        }
    }

    /// <summary>Connects an Orleans client to one gateway and calls a grain through it; throws if either fails.</summary>
    private static async Task CallThroughGatewayAsync(string clusterId, int gatewayPort, string? certificate, TimeSpan timeout)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.UseOrleansClient(client =>
        {
            client.UseStaticClustering(new IPEndPoint(IPAddress.Loopback, gatewayPort));
            client.Configure<ClusterOptions>(o => (o.ClusterId, o.ServiceId) = (clusterId, clusterId));
            if (certificate is not null)
            {
                var loaded = X509CertificateLoader.LoadPkcs12FromFile(certificate, null);
                client.UseTls(loaded, o => ClusterTls.Configure(o, loaded));
            }
        });
        using var host = builder.Build();
        using var cancel = new CancellationTokenSource(timeout);
        await host.StartAsync(cancel.Token);
        try
        {
            var client = host.Services.GetRequiredService<IClusterClient>();
            await client.GetGrain<IUtilizationGrain>(0).GetSnapshot(long.MaxValue).WaitAsync(timeout);
        }
        finally
        {
            await host.StopAsync(CancellationToken.None);
        }
    }

    private string WriteSelfSigned(string name, string file)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], critical: false));
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        var path = Path.Combine(_folder, file);
        File.WriteAllBytes(path, certificate.Export(X509ContentType.Pkcs12));
        return path;
    }

    /// <summary>
    /// The local addresses of this machine's listening TCP sockets, from /proc/net/tcp ("127.0.0.1:11111") and
    /// /proc/net/tcp6 (any IPv6 socket, "ipv6:11111": the ports here are to be on IPv4 loopback only).
    /// </summary>
    private static List<string> ListeningSockets() =>
        Listening("/proc/net/tcp", address =>
                new IPAddress(BitConverter.GetBytes(uint.Parse(address, NumberStyles.HexNumber, CultureInfo.InvariantCulture))).ToString())
            .Concat(Listening("/proc/net/tcp6", _ => "ipv6"))
            .ToList();

    private static IEnumerable<string> Listening(string table, Func<string, string> address) =>
        File.ReadLines(table).Skip(1)
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(fields => fields[3] == "0A") // LISTEN
            .Select(fields => fields[1].Split(':'))
            .Select(local => $"{address(local[0])}:{int.Parse(local[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture)}");
}
