using Marketplace.Silo;
using Npgsql;

namespace Marketplace.Testing;

/// <summary>
/// A database of its own for one test fixture, created and migrated on start and dropped at the end, on the PostgreSQL
/// server named by <c>MARKETPLACE_TEST_PG</c> (test.sh starts a throwaway one and sets it).
/// </summary>
public sealed class TestDatabase : IAsyncDisposable
{
    public const string ServerVariable = "MARKETPLACE_TEST_PG";

    private readonly string _server;

    private TestDatabase(string name, string connectionString, string server)
    {
        _server = server;
        Name = name;
        ConnectionString = connectionString;
        DataSource = NpgsqlDataSource.Create(connectionString);
    }

    public string Name { get; }
    public string ConnectionString { get; }
    public NpgsqlDataSource DataSource { get; }

    public static string ServerConnectionString =>
        Environment.GetEnvironmentVariable(ServerVariable) is { Length: > 0 } value
            ? value
            : "Host=127.0.0.1;Port=55433;Username=marketplace;Password=marketplace";

    /// <param name="server">An admin connection string of the server to create it on (default: the tests' server).</param>
    public static async Task<TestDatabase> CreateAsync(string label, string? server = null)
    {
        var name = $"mk_{new string(label.ToLowerInvariant().Where(char.IsAsciiLetterOrDigit).Take(20).ToArray())}_{Guid.NewGuid():N}"[..40];
        var builder = new NpgsqlConnectionStringBuilder(server ?? ServerConnectionString) { Database = name, MaxPoolSize = 200 };
        try
        {
            await MarketplaceSilo.MigrateAsync(builder.ConnectionString);
        }
        catch (NpgsqlException e)
        {
            throw new InvalidOperationException(
                $"The tests need a PostgreSQL server: run ./test.sh, or set {ServerVariable} to an admin connection string ({e.Message})", e);
        }
        return new TestDatabase(name, builder.ConnectionString, server ?? ServerConnectionString);
    }

    public async Task<T> ScalarAsync<T>(string sql, params (string Name, object Value)[] parameters)
    {
        await using var command = DataSource.CreateCommand(sql);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }
        var result = await command.ExecuteScalarAsync();
        return result is DBNull or null ? default! : (T)Convert.ChangeType(result, Nullable.GetUnderlyingType(typeof(T)) ?? typeof(T), System.Globalization.CultureInfo.InvariantCulture);
    }

    public async ValueTask DisposeAsync()
    {
        await DataSource.DisposeAsync();
        NpgsqlConnection.ClearAllPools();
        var admin = new NpgsqlConnectionStringBuilder(_server) { Database = "postgres", Pooling = false };
        await using var connection = new NpgsqlConnection(admin.ConnectionString);
        await connection.OpenAsync();
        await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{Name}\" WITH (FORCE)", connection);
        await drop.ExecuteNonQueryAsync();
    }
}
