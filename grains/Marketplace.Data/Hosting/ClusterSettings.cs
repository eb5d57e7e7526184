using System.ComponentModel.DataAnnotations;
using System.Net;
using System.Security.Cryptography.X509Certificates;

namespace Marketplace.Data.Hosting;

/// <summary>Where the cluster is and how its members find each other ("Orleans" section).</summary>
public sealed class ClusterSettings : IValidatableObject
{
    public const string Section = "Orleans";

    [Required, RegularExpression("^[A-Za-z0-9._-]{1,100}$", ErrorMessage = "Orleans:ClusterId must be 1-100 letters, digits, '.', '_' or '-'")]
    public string ClusterId { get; set; } = "marketplace";

    [Required, RegularExpression("^[A-Za-z0-9._-]{1,100}$", ErrorMessage = "Orleans:ServiceId must be 1-100 letters, digits, '.', '_' or '-'")]
    public string ServiceId { get; set; } = "marketplace";

    [Range(1, 65535, ErrorMessage = "Orleans:SiloPort must be between 1 and 65535")]
    public int SiloPort { get; set; } = 11111;

    [Range(1, 65535, ErrorMessage = "Orleans:GatewayPort must be between 1 and 65535")]
    public int GatewayPort { get; set; } = 30000;

    /// <summary>The silo's own HTTP port, for /healthz and /metrics.</summary>
    [Range(1, 65535, ErrorMessage = "Orleans:HttpPort must be between 1 and 65535")]
    public int HttpPort { get; set; } = 9090;

    /// <summary>
    /// The address other silos and clients use to reach this silo, or <c>auto</c> for this host's first non-loopback
    /// IPv4 address (what a container replica needs: each has its own address and cannot be told it in advance).
    /// </summary>
    public string AdvertisedIPAddress { get; set; } = "127.0.0.1";

    public IPAddress ResolveAdvertisedAddress()
    {
        if (!string.Equals(AdvertisedIPAddress, "auto", StringComparison.OrdinalIgnoreCase))
        {
            return IPAddress.Parse(AdvertisedIPAddress);
        }
        return Dns.GetHostAddresses(Dns.GetHostName())
            .FirstOrDefault(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && !IPAddress.IsLoopback(a))
            ?? IPAddress.Loopback;
    }

    /// <summary>
    /// The address the silo, its gateway and its HTTP endpoint (/healthz, /metrics) listen on: by default the advertised
    /// address, so nothing listens on every interface unless told to (<c>0.0.0.0</c>, e.g. inside a container network).
    /// </summary>
    public string? ListenAddress { get; set; }

    public IPAddress ResolveListenAddress() => ListenAddress is { Length: > 0 } address ? IPAddress.Parse(address) : ResolveAdvertisedAddress();

    /// <summary>
    /// A PKCS#12 file with the cluster's certificate and key. When set, silos talk to each other and the web tier talks to
    /// the gateways over mutual TLS, and a peer is accepted only if it presents this same certificate.
    /// </summary>
    public string? TlsCertificatePath { get; set; }

    public string? TlsCertificatePassword { get; set; }

    public X509Certificate2? LoadTlsCertificate() => TlsCertificatePath is { Length: > 0 } path
        ? X509CertificateLoader.LoadPkcs12FromFile(path, TlsCertificatePassword)
        : null;

    /// <summary>
    /// Detect a dead silo in about a second (probe every second, two missed probes, one vote) instead of the
    /// production defaults (about ten seconds or more), for one-machine clusters and tests.
    /// </summary>
    public bool FastFailureDetection { get; set; }

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!string.Equals(AdvertisedIPAddress, "auto", StringComparison.OrdinalIgnoreCase) && !IPAddress.TryParse(AdvertisedIPAddress, out _))
        {
            yield return new ValidationResult($"Orleans:AdvertisedIPAddress '{AdvertisedIPAddress}' is not an IP address or 'auto'");
        }
        if (ListenAddress is { Length: > 0 } && !IPAddress.TryParse(ListenAddress, out _))
        {
            yield return new ValidationResult($"Orleans:ListenAddress '{ListenAddress}' is not an IP address");
        }
        if (TlsCertificatePath is { Length: > 0 } && !File.Exists(TlsCertificatePath))
        {
            yield return new ValidationResult($"Orleans:TlsCertificatePath '{TlsCertificatePath}' does not exist");
        }
        if (new[] { SiloPort, GatewayPort, HttpPort }.Distinct().Count() < 3)
        {
            yield return new ValidationResult("Orleans:SiloPort, Orleans:GatewayPort and Orleans:HttpPort must differ");
        }
    }
}
