using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using Npgsql;

namespace Marketplace.Data;

/// <summary>One schema script: its version is the number its file name starts with.</summary>
public sealed record SchemaScript(int Version, string Name, string Sql)
{
    public string Checksum { get; } = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(Sql)));
}

/// <summary>
/// Applies the Orleans scripts and the marketplace's migrations in version order, each in its own transaction,
/// recording each in <c>schema_version</c>. Applying again is a no-op; an applied script that has since been edited
/// is refused, because the database no longer matches the code.
/// </summary>
public sealed class SchemaMigrator(NpgsqlDataSource dataSource)
{
    // Serializes migrators started at the same time (e.g. three silos starting together).
    private const long AdvisoryLockKey = 0x4d4b_5343_4845_4d41; // "MKSCHEMA"

    public static IReadOnlyList<SchemaScript> Scripts { get; } = LoadScripts();

    public async Task<IReadOnlyList<SchemaScript>> MigrateAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await Execute(connection, """
            CREATE TABLE IF NOT EXISTS schema_version (
                version     integer PRIMARY KEY,
                name        text NOT NULL,
                checksum    text NOT NULL,
                applied_at  timestamptz NOT NULL DEFAULT now())
            """, cancellationToken);
        await Execute(connection, $"SELECT pg_advisory_lock({AdvisoryLockKey})", cancellationToken);
        try
        {
            var applied = await AppliedAsync(connection, cancellationToken);
            var newlyApplied = new List<SchemaScript>();
            foreach (var script in Scripts)
            {
                if (applied.TryGetValue(script.Version, out var checksum))
                {
                    if (checksum != script.Checksum)
                    {
                        throw new Hosting.StartupException(
                            $"schema script {script.Name} differs from the one applied to this database; add a new migration instead of editing an applied one",
                            Hosting.StartupCheck.SchemaMismatch);
                    }
                    continue;
                }

                await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
                await using (var command = new NpgsqlCommand(script.Sql, connection, transaction))
                {
                    await command.ExecuteNonQueryAsync(cancellationToken);
                }
                await using (var record = new NpgsqlCommand(
                    "INSERT INTO schema_version (version, name, checksum) VALUES (@v, @n, @c)", connection, transaction))
                {
                    record.Parameters.AddWithValue("v", script.Version);
                    record.Parameters.AddWithValue("n", script.Name);
                    record.Parameters.AddWithValue("c", script.Checksum);
                    await record.ExecuteNonQueryAsync(cancellationToken);
                }
                await transaction.CommitAsync(cancellationToken);
                newlyApplied.Add(script);
            }
            return newlyApplied;
        }
        finally
        {
            await Execute(connection, $"SELECT pg_advisory_unlock({AdvisoryLockKey})", CancellationToken.None);
        }
    }

    /// <summary>Refuses to run against a database whose schema lacks a script this build carries, or has another version of one.</summary>
    public async Task RequireCurrentAsync(CancellationToken cancellationToken = default)
    {
        var applied = await AppliedAsync(cancellationToken);
        var missing = Scripts.Where(s => !applied.ContainsKey(s.Version)).Select(s => s.Name).ToList();
        if (missing.Count > 0)
        {
            throw new Hosting.StartupException(
                $"the database schema is behind this build (missing {string.Join(", ", missing)}); run `Marketplace.Silo migrate` first",
                Hosting.StartupCheck.SchemaMismatch);
        }
        var changed = Scripts.Where(s => applied[s.Version] != s.Checksum).Select(s => s.Name).ToList();
        if (changed.Count > 0)
        {
            throw new Hosting.StartupException(
                $"the database was migrated with other versions of {string.Join(", ", changed)}", Hosting.StartupCheck.SchemaMismatch);
        }
    }

    public async Task<IReadOnlyDictionary<int, string>> AppliedAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await AppliedAsync(connection, cancellationToken);
    }

    private static async Task<Dictionary<int, string>> AppliedAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var applied = new Dictionary<int, string>();
        await using (var exists = new NpgsqlCommand("SELECT to_regclass('schema_version') IS NOT NULL", connection))
        {
            if (!(bool)(await exists.ExecuteScalarAsync(cancellationToken))!)
            {
                return applied;
            }
        }
        await using var command = new NpgsqlCommand("SELECT version, checksum FROM schema_version", connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            applied[reader.GetInt32(0)] = reader.GetString(1);
        }
        return applied;
    }

    private static async Task Execute(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static List<SchemaScript> LoadScripts()
    {
        var assembly = typeof(SchemaMigrator).Assembly;
        var scripts = new List<SchemaScript>();
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith("schema/", StringComparison.Ordinal)))
        {
            var name = resource["schema/".Length..];
            var version = int.Parse(name[..name.IndexOf('_')], System.Globalization.CultureInfo.InvariantCulture);
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var reader = new StreamReader(stream, Encoding.UTF8);
            scripts.Add(new SchemaScript(version, name, reader.ReadToEnd()));
        }
        scripts.Sort((a, b) => a.Version.CompareTo(b.Version));
        if (scripts.Select(s => s.Version).Distinct().Count() != scripts.Count)
        {
            throw new InvalidOperationException("two schema scripts share a version number");
        }
        return scripts;
    }
}
