using Marketplace.Web.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Xunit;
using Xunit.Abstractions;

namespace Marketplace.Security.Tests;

/// <summary>Every endpoint × every role × the caller's own resource or another's: the exact status, and the audit trail it leaves.</summary>
[Collection(MatrixCollection.Name)]
public sealed class AuthorizationMatrixTests(MatrixCluster web, ITestOutputHelper output)
{
    [Fact]
    public void Every_endpoint_the_app_serves_is_in_the_matrix_and_nothing_else_is()
    {
        var served = Catalog.Served(web);
        var classified = Catalog.All.Select(c => c.Key).ToList();
        Assert.Equal(classified.Count, classified.Distinct().Count());
        // The Orleans dashboard is third-party and one family: every route under it is the admin-only rule its
        // representatives in the catalogue check.
        var unclassified = served.Except(classified).Where(e => !e.Split(' ')[1].StartsWith(Catalog.DashboardFamily, StringComparison.Ordinal)).ToList();
        var gone = classified.Except(served).ToList();
        Assert.True(unclassified.Count == 0, "endpoints the matrix does not classify (add them to Catalog.All):\n" + string.Join("\n", unclassified));
        Assert.True(gone.Count == 0, "endpoints in the matrix the app no longer serves:\n" + string.Join("\n", gone));
    }

    [Fact]
    public async Task Every_endpoint_answers_every_role_on_its_own_and_anothers_resource_with_the_exact_status_and_every_refusal_is_audited()
    {
        var world = await web.WorldAsync();
        var audit = web.Factory.Services.GetRequiredService<AuditLog>();
        await audit.FlushAsync(CancellationToken.None);
        var auditedBefore = await web.Database.ScalarAsync<long>("SELECT coalesce(max(id), 0) FROM audit_log");
        var refusedBefore = await web.Database.ScalarAsync<long>("SELECT coalesce(max(id), 0) FROM audit_refusals");

        // The matrix's callers have subjects of their own, so the audit check sees only what the matrix did.
        var run = Guid.NewGuid().ToString("N")[..8];
        var mismatches = new List<string>();
        var expectedAudit = new List<string>();
        var expectedRefusals = new List<string>();
        var cells = 0;
        foreach (var endpoint in Catalog.All)
        {
            foreach (var role in Enum.GetValues<Role>())
            {
                foreach (var target in endpoint.Owned ? [Target.Mine, Target.Theirs] : new[] { Target.Mine })
                {
                    var call = await endpoint.Build(world, role, target, true);
                    using var client = Client(world, role, run);
                    using var response = await client.SendAsync(call);
                    var status = (int)response.StatusCode;
                    var expected = endpoint.Expected(role, target);
                    cells++;
                    if (status != expected)
                    {
                        mismatches.Add($"{endpoint.Key} as {role} on {target}: expected {expected}, got {status} {Shorten(await response.Content.ReadAsStringAsync())}");
                    }
                    if (Refused(call, target, status, endpoint))
                    {
                        expectedRefusals.Add($"{(TokenRefusal(call, status) ? "none" : RoleName(role))} {endpoint.Key} {status}");
                    }
                    else if (Audited(call, role, endpoint))
                    {
                        expectedAudit.Add($"{RoleName(role)} {call.Method} {call.Url.Split('?')[0]} {status}");
                    }
                }
            }
        }
        output.WriteLine($"{cells} cells over {Catalog.All.Count} endpoints, {expectedAudit.Count} of them audited as actions, " +
            $"{expectedRefusals.Count} as refusals");

        await audit.FlushAsync(CancellationToken.None);
        var rows = await ReadAuditAsync(auditedBefore, run);
        var refusals = await ReadRefusalsAsync(refusedBefore, run);
        var missing = Except(expectedAudit, rows).Concat(Except(expectedRefusals, refusals).Select(r => $"refusal {r}")).ToList();
        var extra = Except(rows, expectedAudit).Concat(Except(refusals, expectedRefusals).Select(r => $"refusal {r}")).ToList();
        Assert.True(mismatches.Count == 0 && missing.Count == 0 && extra.Count == 0,
            $"{mismatches.Count} of {cells} cells differ:\n{string.Join("\n", mismatches)}\n" +
            $"audit entries missing:\n{string.Join("\n", missing)}\nunexpected audit entries:\n{string.Join("\n", extra)}");
    }

    /// <summary>
    /// Refusals, counted per caller, action and minute: 401, 403, or 404 for another's resource. Every resource the matrix
    /// names exists, so each 404 is a refusal; so is a 422 for naming another's voucher.
    /// </summary>
    private static bool Refused(Call call, Target target, int status, EndpointCase endpoint)
    {
        var path = call.Url.Split('?')[0];
        return (path.StartsWith("/api/", StringComparison.Ordinal) || path.StartsWith(Names.Hub.Path, StringComparison.Ordinal))
            && (status is 401 or 403 or 404 || status == 422 && target == Target.Theirs && endpoint.Pattern is "/api/v1/bids" or "/api/v1/quotes")
            || TokenRefusal(call, status);
    }

    /// <summary>A refused token request, audited whoever asks (bearer tokens play no part there: its role is "none").</summary>
    private static bool TokenRefusal(Call call, int status) => call.Url == "/connect/token" && status >= 400;

    /// <summary>
    /// Actions, an entry each: every request of an admin or a regulator (on the hub, its connection: the negotiation, not
    /// each request of the transport), and what any signed-in user changes through the API but bids and quotes.
    /// </summary>
    private static bool Audited(Call call, Role role, EndpointCase endpoint)
    {
        var path = call.Url.Split('?')[0];
        if (!path.StartsWith("/api/", StringComparison.Ordinal) && !path.StartsWith(Names.Hub.Path, StringComparison.Ordinal))
        {
            return false;
        }
        return role is Role.Regulator or Role.Admin && path != Names.Hub.Path
            || role != Role.Anonymous && path.StartsWith("/api/", StringComparison.Ordinal) && endpoint.Method is not ("GET" or "HEAD")
                && endpoint.Pattern is not ("/api/v1/bids" or "/api/v1/quotes");
    }

    private static string RoleName(Role role) => role switch
    {
        Role.Anonymous => "none",
        Role.Sme => Names.Roles.Sme,
        Role.Provider => Names.Roles.Provider,
        Role.Regulator => Names.Roles.Regulator,
        _ => Names.Roles.Admin,
    };

    private HttpClient Client(World world, Role role, string run)
    {
        var client = web.Client();
        if (role != Role.Anonymous)
        {
            var issuer = web.Factory.Services.GetRequiredService<TokenIssuer>();
            var token = issuer.Issue(RoleName(role), role == Role.Sme ? world.TenantA : null, role == Role.Provider ? world.ProviderP : null,
                subject: $"matrix-{run}-{RoleName(role)}");
            client.DefaultRequestHeaders.Authorization = new("Bearer", token);
        }
        return client;
    }

    private async Task<List<string>> ReadAuditAsync(long after, string run)
    {
        await using var command = web.Database.DataSource.CreateCommand(
            "SELECT role, resource, status_code FROM audit_log WHERE id > @id AND (subject LIKE @run OR subject = 'anonymous') ORDER BY id");
        command.Parameters.AddWithValue("id", after);
        command.Parameters.AddWithValue("run", $"matrix-{run}-%");
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<string>();
        while (await reader.ReadAsync())
        {
            rows.Add($"{reader.GetString(0)} {reader.GetString(1)} {reader.GetInt32(2)}");
        }
        return rows;
    }

    /// <summary>Each refusal counted, as one line per refused request (the counts of a minute may be written in parts).</summary>
    private async Task<List<string>> ReadRefusalsAsync(long after, string run)
    {
        await using var command = web.Database.DataSource.CreateCommand("""
            SELECT role, action, status_code, sum(count)::int FROM audit_refusals
            WHERE id > @id AND (subject LIKE @run OR subject = 'anonymous') GROUP BY role, action, status_code
            """);
        command.Parameters.AddWithValue("id", after);
        command.Parameters.AddWithValue("run", $"matrix-{run}-%");
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<string>();
        while (await reader.ReadAsync())
        {
            rows.AddRange(Enumerable.Repeat($"{reader.GetString(0)} {reader.GetString(1)} {reader.GetInt32(2)}", reader.GetInt32(3)));
        }
        return rows;
    }

    /// <summary>Multiset difference.</summary>
    private static List<string> Except(IEnumerable<string> a, IEnumerable<string> b)
    {
        var left = a.GroupBy(x => x).ToDictionary(g => g.Key, g => g.Count());
        foreach (var x in b)
        {
            if (left.TryGetValue(x, out var n))
            {
                left[x] = n - 1;
            }
        }
        return left.Where(e => e.Value > 0).SelectMany(e => Enumerable.Repeat(e.Key, e.Value)).Order(StringComparer.Ordinal).ToList();
    }

    private static string Shorten(string text) => text.Length > 300 ? text[..300] + "…" : text;
}
