using Marketplace.Testing;
using Xunit;

namespace Marketplace.System.Tests;

/// <summary>
/// The deployment file cannot run here (no container engine), so it is validated statically with docker-compose and
/// its services and settings are checked in the configuration docker-compose normalises.
/// </summary>
public sealed class DeploymentTests
{
    private const string Key = "a-signing-key-of-at-least-32-characters";
    private static readonly string ComposeFile = Path.Combine(ProcessCluster.RepositoryRoot, "docker-compose.yml");

    private static Task<(int ExitCode, IReadOnlyList<string> Output)> Compose(string? signingKey, params string[] arguments) =>
        ManagedProcess.RunAsync("docker-compose", ["-f", ComposeFile, "-p", "marketplace", .. arguments],
            new Dictionary<string, string?> { ["AUTH_SIGNING_KEY"] = signingKey }, TimeSpan.FromSeconds(60));

    /// <summary>The normalised configuration, split into one block of lines per service.</summary>
    private static async Task<IReadOnlyDictionary<string, string>> Services()
    {
        var (exitCode, output) = await Compose(Key, "config");
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
        var (exitCode, output) = await Compose(Key, "config", "-q");
        Assert.True(exitCode == 0, string.Join("\n", output));
    }

    [Fact]
    public async Task The_compose_file_refuses_to_deploy_without_a_signing_key()
    {
        var (exitCode, output) = await Compose(null, "config", "-q");
        Assert.NotEqual(0, exitCode);
        Assert.Contains(output, line => line.Contains("set AUTH_SIGNING_KEY", StringComparison.Ordinal));
    }

    [Fact]
    public async Task PostgreSQL_the_schema_three_silos_and_the_web_tier_start_in_order_with_health_checks()
    {
        var services = await Services();
        Assert.Equal(["certs", "postgres", "schema", "silo", "web"], services.Keys.Order());

        Assert.Contains("image: postgres:15", services["postgres"]);
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
        Assert.Contains($"Auth__SigningKey: {Key}", web);
        Assert.Contains("published: 8080", web);
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
    public void Each_image_is_built_in_stages_and_runs_as_a_non_root_user(string dockerfile, string entry)
    {
        var lines = File.ReadAllLines(Path.Combine(ProcessCluster.RepositoryRoot, dockerfile));
        Assert.True(lines.Count(l => l.StartsWith("FROM ", StringComparison.Ordinal)) >= 2, "a multi-stage build");
        Assert.Contains(lines, l => l.StartsWith("FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build", StringComparison.Ordinal));
        Assert.Contains("USER app", lines);
        Assert.Contains(lines, l => l.StartsWith("ENTRYPOINT", StringComparison.Ordinal) && l.Contains(entry, StringComparison.Ordinal));
    }
}
