using System.Security.Cryptography.X509Certificates;
using Orleans.Connections.Security;

namespace Marketplace.Data.Hosting;

/// <summary>
/// Mutual TLS inside the cluster: between silos and between the web tier and the gateways. Every member holds the one
/// cluster certificate and accepts a peer only if it presents the same one, so reaching a silo's or a gateway's port is
/// not enough to call a grain.
/// </summary>
public static class ClusterTls
{
    public static void Configure(TlsOptions options, X509Certificate2 certificate)
    {
        options.LocalCertificate = certificate;
        options.RemoteCertificateMode = RemoteCertificateMode.RequireCertificate;
        options.ClientCertificateMode = RemoteCertificateMode.RequireCertificate;
        options.RemoteCertificateValidation = (remote, _, _) => IsClusterCertificate(remote, certificate);
        options.OnAuthenticateAsClient = (_, client) => client.TargetHost = certificate.GetNameInfo(X509NameType.SimpleName, forIssuer: false);
    }

    public static bool IsClusterCertificate(X509Certificate2 remote, X509Certificate2 cluster) =>
        remote.RawData.AsSpan().SequenceEqual(cluster.RawData);
}
