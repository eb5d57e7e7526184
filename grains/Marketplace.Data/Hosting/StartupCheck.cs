using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Configuration;
using Npgsql;

namespace Marketplace.Data.Hosting;

/// <summary>A setting is wrong or a dependency is unreachable: the process says so in one line and exits.</summary>
public sealed class StartupException(string message, int exitCode) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}

/// <summary>Checks configuration and the database before anything starts, so a mistake is one clear line, not a stack dump.</summary>
public static class StartupCheck
{
    public const int BadSetting = 2;
    public const int DatabaseUnreachable = 3;
    public const int SchemaMismatch = 4;

    /// <summary>Binds a section and validates it with its data annotations; throws <see cref="StartupException"/>.</summary>
    public static T Bind<T>(IConfiguration configuration, string section) where T : class, new()
    {
        var settings = new T();
        try
        {
            configuration.GetSection(section).Bind(settings, o => o.ErrorOnUnknownConfiguration = false);
        }
        catch (InvalidOperationException e)
        {
            throw new StartupException(e.Message.TrimEnd('.'), BadSetting);
        }
        var results = new List<ValidationResult>();
        if (!Validator.TryValidateObject(settings, new ValidationContext(settings), results, validateAllProperties: true))
        {
            throw new StartupException(string.Join("; ", results.Select(r => r.ErrorMessage)), BadSetting);
        }
        return settings;
    }

    public static string ConnectionString(IConfiguration configuration)
    {
        var value = configuration.GetConnectionString("Marketplace");
        if (string.IsNullOrWhiteSpace(value))
        {
            throw new StartupException("ConnectionStrings:Marketplace is not set (e.g. ConnectionStrings__Marketplace=\"Host=127.0.0.1;Port=5432;...\")", BadSetting);
        }
        try
        {
            _ = new NpgsqlConnectionStringBuilder(value);
        }
        catch (ArgumentException e)
        {
            throw new StartupException($"ConnectionStrings:Marketplace is not a valid PostgreSQL connection string: {e.Message}", BadSetting);
        }
        return value;
    }

    /// <summary>
    /// Opens one connection (five seconds at most) to prove the database is there; with <paramref name="serverOnly"/>,
    /// only the server (the database itself may be created next).
    /// </summary>
    public static async Task RequireDatabaseAsync(string connectionString, bool serverOnly = false, CancellationToken cancellationToken = default)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString) { Timeout = 5, Pooling = false };
        if (serverOnly)
        {
            builder.Database = "postgres";
        }
        try
        {
            await using var connection = new NpgsqlConnection(builder.ConnectionString);
            await connection.OpenAsync(cancellationToken);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or System.Net.Sockets.SocketException or InvalidOperationException)
        {
            throw new StartupException($"cannot reach PostgreSQL at {Database.Describe(connectionString)}: {e.Message}", DatabaseUnreachable);
        }
    }

    /// <summary>Runs a host's start-up; a <see cref="StartupException"/> becomes one line on stderr and the exit code.</summary>
    public static async Task<int> RunAsync(Func<Task<int>> main)
    {
        try
        {
            return await main();
        }
        catch (StartupException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return e.ExitCode;
        }
    }
}
