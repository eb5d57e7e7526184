using Npgsql;

namespace Marketplace.Data;

public static class Database
{
    /// <summary>
    /// Creates the database named in <paramref name="connectionString"/> if it does not exist, connecting to the
    /// server's <c>postgres</c> database to do so.
    /// </summary>
    public static async Task EnsureExistsAsync(string connectionString, CancellationToken cancellationToken = default)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        var name = builder.Database ?? throw new InvalidOperationException("the connection string names no database");
        builder.Database = "postgres";
        builder.Pooling = false;
        await using var connection = new NpgsqlConnection(builder.ConnectionString);
        await connection.OpenAsync(cancellationToken);
        await using var exists = new NpgsqlCommand("SELECT 1 FROM pg_database WHERE datname = @n", connection);
        exists.Parameters.AddWithValue("n", name);
        if (await exists.ExecuteScalarAsync(cancellationToken) is null)
        {
            try
            {
                await using var create = new NpgsqlCommand($"CREATE DATABASE \"{name.Replace("\"", "\"\"")}\"", connection);
                await create.ExecuteNonQueryAsync(cancellationToken);
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.DuplicateDatabase)
            {
                // Created by someone else meanwhile.
            }
        }
    }

    /// <summary>
    /// The data source the services use. The same few statement shapes run thousands of times a second, so Npgsql
    /// prepares them automatically (PostgreSQL then skips parsing and planning), and pooled connections are not reset
    /// on return (the services leave no session state behind).
    /// </summary>
    public static NpgsqlDataSource CreateDataSource(string connectionString)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        if (builder.MaxAutoPrepare == 0)
        {
            builder.MaxAutoPrepare = 64;
            builder.AutoPrepareMinUsages = 2;
        }
        builder.NoResetOnClose = true;
        return new NpgsqlDataSourceBuilder(builder.ConnectionString).Build();
    }

    /// <summary>Describes where a connection string points, without its password, for error messages.</summary>
    public static string Describe(string connectionString)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        return $"{builder.Host}:{builder.Port}/{builder.Database}";
    }
}
