using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Marketplace.Testing;
using Npgsql;
using Xunit;

namespace Marketplace.System.Tests;

/// <summary>
/// The processes connect as the application's own role (as in docker-compose): no superuser, no schema changes, and an
/// audit trail it can add to and read but not edit.
/// </summary>
public sealed class DatabaseRoleTests
{
    private const string Password = "app-role-password-for-the-test";

    private static Task<(int ExitCode, IReadOnlyList<string> Output)> MigrateAsync(string connectionString, string role, string? password) =>
        ManagedProcess.RunAsync("dotnet", [ProcessCluster.SiloDll, "migrate"], new Dictionary<string, string?>
        {
            ["ConnectionStrings__Marketplace"] = connectionString,
            ["Database__AppRole"] = role,
            ["Database__AppRolePassword"] = password,
        }, TimeSpan.FromSeconds(60));

    [Fact]
    public async Task Migrate_refuses_an_application_role_without_a_password()
    {
        var (exitCode, output) = await MigrateAsync(TestDatabase.ServerConnectionString + ";Database=never_created", "marketplace_app", null);
        Assert.Equal(2, exitCode);
        Assert.Equal(["error: Database:AppRolePassword must be set when Database:AppRole is (the role logs in with it)"], output);
    }

    [Fact]
    public async Task The_application_role_runs_the_marketplace_and_appends_to_the_audit_trail_but_cannot_edit_it()
    {
        // Roles belong to the server, not to the test's database: a name of this test's own, dropped at the end.
        var role = $"mk_app_{Guid.NewGuid():N}"[..20];
        try
        {
            string appConnection = "";
            await using var system = await ProcessCluster.StartAsync(label: "approle", prepare: async database =>
            {
                var (exitCode, output) = await MigrateAsync(database.ConnectionString, role, Password);
                Assert.True(exitCode == 0, string.Join("\n", output));
                Assert.Equal(["schema is up to date", $"role {role} may connect, with append-only access to audit_log and audit_refusals"], output);
                appConnection = new NpgsqlConnectionStringBuilder(database.ConnectionString) { Username = role, Password = Password, Pooling = false }.ConnectionString;
                return new Dictionary<string, string?> { ["ConnectionStrings__Marketplace"] = appConnection };
            });

            // The marketplace's normal work, with silos and the web tier connected as the role: pools listed, a bid filled.
            await MarketSeed.ProvidersAsync(system, "H20-96G", gpus: 8, provinces: ["Ningxia"]);
            var (_, sme) = (await MarketSeed.TenantsAsync(system, 1))[0];
            var start = Hours.ToTime(Hours.Floor(DateTimeOffset.UtcNow) + 3);
            var response = await sme.PostAsJsonAsync("/api/v1/bids", new
            {
                gpuModel = "H20-96G", gpuCount = 2, durationHours = 1, earliestStart = start, latestStart = start, maxFenPerGpuHour = 2_000,
                timeInForce = "IOC", clientOrderId = "role-1",
            });
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
            var bid = await response.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal("Filled", bid.GetProperty("state").GetString());
            Assert.Equal(1, bid.GetProperty("fills").GetArrayLength());

            await using var app = new NpgsqlConnection(appConnection);
            await app.OpenAsync();
            Assert.Equal((role, false), await ScalarAsync<(string, bool)>(app, "SELECT current_user::text, rolsuper FROM pg_roles WHERE rolname = current_user"));
            Assert.Equal(1, await ScalarAsync<int>(app, """
                INSERT INTO audit_log (at, subject, role, action, resource, outcome, status_code) VALUES (now(), 'test', 'admin', 'test', 'test', 'ok', 200)
                """, rows: true));
            Assert.Equal(1, await ScalarAsync<int>(app, """
                INSERT INTO audit_refusals (minute, subject, caller, role, action, status_code, count, example)
                VALUES (date_trunc('minute', now()), 'test', 'test', 'anonymous', 'test', 401, 1, 'test')
                """, rows: true));
            foreach (var table in new[] { "audit_log", "audit_refusals" })
            {
                Assert.True(await ScalarAsync<long>(app, $"SELECT count(*) FROM {table}") >= 1);
                foreach (var edit in new[] { $"UPDATE {table} SET subject = 'edited'", $"DELETE FROM {table}", $"TRUNCATE {table}" })
                {
                    var refused = await Assert.ThrowsAsync<PostgresException>(() => ScalarAsync<int>(app, edit, rows: true));
                    Assert.Equal((PostgresErrorCodes.InsufficientPrivilege, $"permission denied for table {table}"), (refused.SqlState, refused.MessageText));
                }
            }
            // Accounts and the OpenID Connect provider's stores (0108) are the app's to read and write like the market's rows.
            Assert.Equal(8, await ScalarAsync<long>(app, """
                SELECT count(*) FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace
                AND (relname LIKE 'account\_%' OR relname LIKE 'oidc\_%') AND has_table_privilege(current_user, oid, 'SELECT,INSERT,UPDATE,DELETE')
                """));
            var create = await Assert.ThrowsAsync<PostgresException>(() => ScalarAsync<int>(app, "CREATE TABLE not_the_apps (id int)", rows: true));
            Assert.Equal((PostgresErrorCodes.InsufficientPrivilege, "permission denied for schema public"), (create.SqlState, create.MessageText));
        }
        finally
        {
            NpgsqlConnection.ClearAllPools();
            await using var admin = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(TestDatabase.ServerConnectionString) { Database = "postgres" }.ConnectionString);
            await admin.OpenAsync();
            await using var drop = new NpgsqlCommand($"DROP ROLE IF EXISTS \"{role}\"", admin);
            await drop.ExecuteNonQueryAsync();
        }
    }

    /// <summary>The first row's value (a tuple for two columns), or with <paramref name="rows"/> the number of rows changed.</summary>
    private static async Task<T> ScalarAsync<T>(NpgsqlConnection connection, string sql, bool rows = false)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        if (rows)
        {
            return (T)(object)await command.ExecuteNonQueryAsync();
        }
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        return reader.FieldCount == 2
            ? (T)(object)(reader.GetFieldValue<string>(0), reader.GetFieldValue<bool>(1))
            : reader.GetFieldValue<T>(0);
    }
}
