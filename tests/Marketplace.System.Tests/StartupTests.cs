using Marketplace.Testing;
using Xunit;

namespace Marketplace.System.Tests;

/// <summary>A bad setting or an unreachable database ends a process with one clear line and a non-zero exit code.</summary>
public sealed class StartupTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    private static Dictionary<string, string?> Settings(params (string Key, string? Value)[] values)
    {
        var settings = new Dictionary<string, string?>
        {
            ["ConnectionStrings__Marketplace"] = TestDatabase.ServerConnectionString + ";Database=postgres",
            ["Database__MigrateOnStart"] = "false",
            ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{ManagedProcess.FreePort()}",
            ["Orleans__SiloPort"] = ManagedProcess.FreePort().ToString(global::System.Globalization.CultureInfo.InvariantCulture),
            ["Orleans__GatewayPort"] = ManagedProcess.FreePort().ToString(global::System.Globalization.CultureInfo.InvariantCulture),
            ["Orleans__HttpPort"] = ManagedProcess.FreePort().ToString(global::System.Globalization.CultureInfo.InvariantCulture),
        };
        foreach (var (key, value) in values)
        {
            settings[key] = value;
        }
        return settings;
    }

    [Theory]
    [InlineData("Orleans__SiloPort", "eleven", "error: Failed to convert configuration value 'eleven' at 'Orleans:SiloPort' to type 'System.Int32'")]
    [InlineData("Orleans__GatewayPort", "70000", "error: Orleans:GatewayPort must be between 1 and 65535")]
    [InlineData("Orleans__AdvertisedIPAddress", "not-an-address", "error: Orleans:AdvertisedIPAddress 'not-an-address' is not an IP address or 'auto'")]
    [InlineData("Market__BookingHorizonDays", "0", "error: Market:BookingHorizonDays must be between 1 and 60")]
    public async Task A_silo_with_a_bad_setting_says_so_in_one_line(string key, string value, string expected)
    {
        var (exitCode, output) = await ManagedProcess.RunAsync("dotnet", [ProcessCluster.SiloDll], Settings((key, value)), Limit);
        Assert.Equal(2, exitCode);
        Assert.Equal([expected], output.Where(line => line.Length > 0));
    }

    [Fact]
    public async Task A_silo_that_cannot_reach_the_database_says_so_in_one_line()
    {
        var port = ManagedProcess.FreePort();
        var (exitCode, output) = await ManagedProcess.RunAsync("dotnet", [ProcessCluster.SiloDll],
            Settings(("ConnectionStrings__Marketplace", $"Host=127.0.0.1;Port={port};Username=x;Password=y;Database=marketplace")), Limit);
        Assert.Equal(3, exitCode);
        var line = Assert.Single(output, l => l.Length > 0);
        Assert.StartsWith($"error: cannot reach PostgreSQL at 127.0.0.1:{port}/marketplace:", line);
    }

    [Fact]
    public async Task A_silo_without_a_connection_string_says_so_in_one_line()
    {
        var (exitCode, output) = await ManagedProcess.RunAsync("dotnet", [ProcessCluster.SiloDll], Settings(("ConnectionStrings__Marketplace", "")), Limit);
        Assert.Equal(2, exitCode);
        Assert.StartsWith("error: ConnectionStrings:Marketplace is not set", Assert.Single(output, l => l.Length > 0));
    }

    [Fact]
    public async Task A_silo_refuses_a_database_whose_schema_is_behind_its_build()
    {
        // The server's maintenance database has no marketplace schema at all.
        var (exitCode, output) = await ManagedProcess.RunAsync("dotnet", [ProcessCluster.SiloDll], Settings(), Limit);
        Assert.Equal(4, exitCode);
        Assert.StartsWith("error: the database schema is behind this build (missing 0001_PostgreSQL-Main.sql", Assert.Single(output, l => l.Length > 0));
    }

    [Fact]
    public async Task The_web_tier_with_development_tokens_on_refuses_to_start_without_a_signing_key()
    {
        var (exitCode, output) = await ManagedProcess.RunAsync("dotnet", [ProcessCluster.WebDll],
            Settings(("ASPNETCORE_ENVIRONMENT", "Development"), ("Auth__DevTokens", "true"), ("Auth__SigningKey", "")), Limit);
        Assert.Equal(2, exitCode);
        Assert.Equal(["error: Auth:SigningKey must be set to at least 32 characters when Auth:DevTokens is on in Development"], output.Where(l => l.Length > 0));
    }

    [Fact]
    public async Task The_web_tier_outside_development_needs_no_signing_key_and_says_in_one_line_what_it_does_need()
    {
        var (exitCode, output) = await ManagedProcess.RunAsync("dotnet", [ProcessCluster.WebDll],
            Settings(("ASPNETCORE_ENVIRONMENT", "Production"), ("Auth__SigningKey", ""), ("Auth__DevTokens", "true"), ("Auth__Oidc__Issuer", "https://market.example.cn/")),
            Limit);
        Assert.Equal(2, exitCode);
        Assert.Equal(["error: Auth:Oidc:SigningCertificatePath and Auth:Oidc:EncryptionCertificatePath must name PKCS#12 files outside Development"],
            output.Where(l => l.Length > 0));
    }
}
