using Marketplace.Testing;
using Xunit;

namespace Marketplace.System.Tests;

/// <summary>
/// The deployment file cannot run here (no container engine), so it is validated statically with docker-compose and
/// its services and settings are checked in the configuration docker-compose normalises.
/// </summary>
public sealed class DeploymentTests
{
    private const string OwnerPassword = "owner-password-for-the-test";
    private const string AppPassword = "app-password-for-the-test";
    private const string Issuer = "https://market.example.cn/";

    /// <summary>The versions the images are pinned to: the SDK, its runtime, Node.js for the web assets, PostgreSQL 15.</summary>
    private const string Sdk = "mcr.microsoft.com/dotnet/sdk:10.0.401";
    private const string Runtime = "mcr.microsoft.com/dotnet/aspnet:10.0.12";
    private const string Node = "node:20.20.2-bookworm-slim";
    private const string Postgres = "postgres:15.18";

    private static readonly string ComposeFile = Path.Combine(ProcessCluster.RepositoryRoot, "docker-compose.yml");

    /// <summary>The secrets a deployment must be given; a test leaves one out by naming it.</summary>
    private static Dictionary<string, string?> Secrets(string? without = null)
    {
        var secrets = new Dictionary<string, string?>
        {
            ["POSTGRES_PASSWORD"] = OwnerPassword,
            ["MARKETPLACE_APP_PASSWORD"] = AppPassword,
            ["MARKETPLACE_ISSUER"] = Issuer,
        };
        if (without is not null)
        {
            secrets[without] = null;
        }
        return secrets;
    }

    private static Task<(int ExitCode, IReadOnlyList<string> Output)> Compose(Dictionary<string, string?> secrets, params string[] arguments) =>
        ManagedProcess.RunAsync("docker-compose", ["-f", ComposeFile, "-p", "marketplace", .. arguments], secrets, TimeSpan.FromSeconds(60));

    /// <summary>The normalised configuration, split into one block of lines per service.</summary>
    private static async Task<IReadOnlyDictionary<string, string>> Services()
    {
        var (exitCode, output) = await Compose(Secrets(), "config");
        Assert.Equal(0, exitCode);
        var services = new Dictionary<string, string>();
        string? current = null;
        var inServices = false;
        foreach (var line in output)
        {
            if (!line.StartsWith(' '))
            {
                inServices = line == "services:";
                current = null;
                continue;
            }
            if (inServices && line.Length > 2 && line[2] != ' ' && line.EndsWith(':'))
            {
                current = line.Trim().TrimEnd(':');
                services[current] = "";
                continue;
            }
            if (inServices && current is not null)
            {
                services[current] += line.Trim() + "\n";
            }
        }
        return services;
    }

    [Fact]
    public async Task The_compose_file_is_valid()
    {
        var (exitCode, output) = await Compose(Secrets(), "config", "-q");
        Assert.True(exitCode == 0, string.Join("\n", output));
    }

    [Theory]
    [InlineData("POSTGRES_PASSWORD")]
    [InlineData("MARKETPLACE_APP_PASSWORD")]
    [InlineData("MARKETPLACE_ISSUER")]
    public async Task The_compose_file_refuses_to_deploy_without_each_secret(string secret)
    {
        var (exitCode, output) = await Compose(Secrets(without: secret), "config", "-q");
        Assert.NotEqual(0, exitCode);
        Assert.Contains(output, line => line.Contains($"set {secret}", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_application_connects_as_its_own_role_which_the_schema_job_makes_as_the_owner()
    {
        var services = await Services();
        var app = $"Username=marketplace_app;Password={AppPassword};";
        foreach (var name in new[] { "silo", "web" })
        {
            Assert.Contains($"ConnectionStrings__Marketplace: Host=postgres;Port=5432;{app}Database=marketplace", services[name]);
            Assert.DoesNotContain(OwnerPassword, services[name]);
        }
        var schema = services["schema"];
        Assert.Contains($"ConnectionStrings__Marketplace: Host=postgres;Port=5432;Username=marketplace;Password={OwnerPassword};Database=marketplace", schema);
        Assert.Contains("Database__AppRole: marketplace_app", schema);
        Assert.Contains($"Database__AppRolePassword: {AppPassword}", schema);
        Assert.Contains($"POSTGRES_PASSWORD: {OwnerPassword}", services["postgres"]);
    }

    [Fact]
    public void The_build_context_leaves_out_build_output_local_data_and_history()
    {
        var ignored = File.ReadAllLines(Path.Combine(ProcessCluster.RepositoryRoot, ".dockerignore"));
        Assert.Equal(
            ["**/bin/", "**/obj/", ".data/", "**/node_modules/", "web/Marketplace.Web/wwwroot/lib/", ".git/", "load/results/", "**/TestResults/", "*.log"],
            ignored.Where(l => l.Length > 0 && !l.StartsWith('#')));
    }

    [Fact]
    public async Task PostgreSQL_the_schema_three_silos_and_the_web_tier_start_in_order_with_health_checks()
    {
        var services = await Services();
        Assert.Equal(["certs", "postgres", "schema", "silo", "web"], services.Keys.Order());

        Assert.Contains($"image: {Postgres}\n", services["postgres"]);
        Assert.Contains($"image: {Postgres}\n", services["certs"]);
        Assert.Contains("pg_isready", services["postgres"]);

        Assert.Contains("- migrate", services["schema"]);
        Assert.Contains("condition: service_healthy", services["schema"]);

        var silo = services["silo"];
        Assert.Contains("replicas: 3", silo);
        Assert.Contains("condition: service_completed_successfully", silo);
        Assert.Contains("Database__MigrateOnStart: \"false\"", silo);
        Assert.Contains("/dev/tcp/127.0.0.1/30000", silo);
        Assert.Contains("ConnectionStrings__Marketplace: Host=postgres;", silo);

        var web = services["web"];
        // Development tokens are off outside Development: the key that signs them is neither needed nor given.
        Assert.DoesNotContain("Auth__SigningKey", web);
        Assert.DoesNotContain("Auth__DevTokens", web);
        // Sign-in: the issuer users reach, and the provider's keys from the volume the certs job fills.
        Assert.Contains($"Auth__Oidc__Issuer: {Issuer}", web);
        Assert.Contains("Auth__Oidc__SigningCertificatePath: /certs/oidc-signing.pfx", web);
        Assert.Contains("Auth__Oidc__EncryptionCertificatePath: /certs/oidc-encryption.pfx", web);
        // On the host's loopback only: the forwarded headers the web tier believes can come from the host's proxy alone.
        Assert.Contains("- 127.0.0.1:8080:8080/tcp", web);
        Assert.Contains("/readyz", web);
        Assert.Contains("condition: service_healthy", web);
    }

    [Fact]
    public async Task Silos_and_the_web_tier_speak_mutual_tls_with_a_cluster_certificate_made_once()
    {
        var services = await Services();
        Assert.Contains("openssl req -x509", services["certs"]);
        Assert.Contains("test -s /certs/cluster.pfx", services["certs"]);
        foreach (var name in new[] { "silo", "web" })
        {
            Assert.Contains("Orleans__TlsCertificatePath: /certs/cluster.pfx", services[name]);
            Assert.Contains("certs:/certs:ro", services[name]);
        }
        Assert.Contains("Orleans__ListenAddress: 0.0.0.0", services["silo"]);
        Assert.DoesNotContain("published", services["silo"]);
    }

    [Theory]
    [InlineData("silo/Marketplace.Silo/Dockerfile", "Marketplace.Silo.dll")]
    [InlineData("web/Marketplace.Web/Dockerfile", "Marketplace.Web.dll")]
    public void Each_image_is_built_in_stages_from_pinned_images_and_runs_as_a_non_root_user(string dockerfile, string entry)
    {
        var lines = File.ReadAllLines(Path.Combine(ProcessCluster.RepositoryRoot, dockerfile));
        var bases = lines.Where(l => l.StartsWith("FROM ", StringComparison.Ordinal)).Select(l => l.Split(' ')[1]).ToList();
        Assert.True(bases.Count >= 2, "a multi-stage build");
        Assert.Equal(Sdk, bases[^2]);
        Assert.Equal(Runtime, bases[^1]);
        Assert.All(bases, image => Assert.Contains(image, new[] { Sdk, Runtime, Node }));
        Assert.Contains("USER app", lines);
        Assert.Contains(lines, l => l.StartsWith("ENTRYPOINT", StringComparison.Ordinal) && l.Contains(entry, StringComparison.Ordinal));
    }
}
