using System.Text.RegularExpressions;
using Npgsql;

namespace Marketplace.Data;

/// <summary>
/// The role the silos and the web tier connect as: it may read and write the marketplace's rows but not change the schema,
/// and it may only add to the audit trail (INSERT and SELECT: no UPDATE, DELETE or TRUNCATE), so that a compromised
/// process cannot rewrite what was recorded. The schema's owner creates it, or updates its password and grants, after
/// each migration ("Database:AppRole" and "Database:AppRolePassword" of <c>Marketplace.Silo migrate</c>).
/// </summary>
public static partial class ApplicationRole
{
    /// <summary>Tables the application may only append to and read.</summary>
    public static readonly IReadOnlyList<string> AppendOnlyTables = ["audit_log", "audit_refusals"];

    /// <summary>Lower-case identifiers only, so that the name needs no escaping (only quotes) and the role is named as written.</summary>
    [GeneratedRegex("^[a-z_][a-z0-9_]{0,62}$")]
    public static partial Regex ValidName();

    public static async Task GrantAsync(NpgsqlDataSource owner, string role, string password, CancellationToken cancellationToken = default)
    {
        if (!ValidName().IsMatch(role))
        {
            throw new ArgumentException($"'{role}' is not a valid role name (lower-case letters, digits and '_', at most 63)", nameof(role));
        }
        ArgumentException.ThrowIfNullOrEmpty(password);
        await using var connection = await owner.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var exists = await ScalarAsync<bool>(connection, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = @role)", role, password, cancellationToken);
        // The server quotes the password (format's %L): it never passes through string concatenation here.
        var statement = await ScalarAsync<string>(connection, exists
            ? "SELECT format('ALTER ROLE %I WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD %L', @role, @password)"
            : "SELECT format('CREATE ROLE %I WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD %L', @role, @password)",
            role, password, cancellationToken);
        await ExecuteAsync(connection, statement, cancellationToken);
        var database = await ScalarAsync<string>(connection, "SELECT format('%I', current_database())", role, password, cancellationToken);
        var appendOnly = string.Join(", ", AppendOnlyTables);
        role = $"\"{role}\""; // a valid name may still be a keyword ("user")
        // Revoked first, so that applying again leaves exactly these grants, whatever an earlier version granted.
        await ExecuteAsync(connection, $"""
            REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role};
            GRANT CONNECT ON DATABASE {database} TO {role};
            GRANT USAGE ON SCHEMA public TO {role};
            GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role};
            REVOKE UPDATE, DELETE ON {appendOnly} FROM {role};
            REVOKE INSERT, UPDATE, DELETE ON schema_version FROM {role};
            GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role};
            GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO {role};
            """, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }

    private static async Task<T> ScalarAsync<T>(NpgsqlConnection connection, string sql, string role, string password, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        command.Parameters.AddWithValue("role", role);
        command.Parameters.AddWithValue("password", password);
        return (T)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
