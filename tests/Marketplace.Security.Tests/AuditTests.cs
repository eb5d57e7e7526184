using System.Net;
using System.Text.Json.Nodes;
using Marketplace.Testing;
using Marketplace.Web.Infrastructure;
using Marketplace.Web.Queries;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Marketplace.Security.Tests;

/// <summary>The audit trail: every admin and regulator action, every refused authorization, readable by regulators and admins (its refusal counts by admins only).</summary>
[Collection(MatrixCollection.Name)]
public sealed class AuditTests(MatrixCluster web)
{
    private async Task<List<RefusalView>> Refusals(World world)
    {
        await web.Factory.Services.GetRequiredService<AuditLog>().FlushAsync(CancellationToken.None);
        var response = await world.Client(Role.Admin).GetAsync("/api/v1/audit/refusals?pageSize=1000");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Read<List<RefusalView>>();
    }

    private async Task<List<AuditView>> Trail(World world, int pageSize = 200)
    {
        await web.Factory.Services.GetRequiredService<AuditLog>().FlushAsync(CancellationToken.None);
        var response = await world.Client(Role.Admin).GetAsync($"/api/v1/audit?pageSize={pageSize}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Read<List<AuditView>>();
    }

    [Fact]
    public async Task An_admin_reads_the_trail_newest_first_with_who_did_what_from_where_and_how_it_ended()
    {
        var world = await web.WorldAsync();
        var subject = Scenario.Unique("regulator");
        using var client = web.Client();
        client.DefaultRequestHeaders.Authorization =
            new("Bearer", web.Factory.Services.GetRequiredService<TokenIssuer>().Issue(Names.Roles.Regulator, null, null, subject));
        client.DefaultRequestHeaders.UserAgent.ParseAdd("audit-test/1.0");
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/v1/takeup")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/v1/takeup")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await client.PostAsync("/api/v1/bids", null)).StatusCode);

        var trail = await Trail(world);
        Assert.True(trail.Select(e => e.Id).SequenceEqual(trail.Select(e => e.Id).OrderDescending()));
        var mine = trail.Where(e => e.Subject == subject).ToList();
        Assert.Equal(2, mine.Count);
        Assert.All(mine, e => Assert.Equal((Names.Roles.Regulator, "GET /api/v1/takeup", "GET /api/v1/takeup", "ok", 200, "audit-test/1.0"),
            (e.Role, e.Action, e.Resource, e.Outcome, e.StatusCode, e.UserAgent)));
        Assert.All(mine, e => Assert.False(string.IsNullOrEmpty(e.TraceId)));
        Assert.NotEqual(mine[0].TraceId, mine[1].TraceId);

        var refused = Assert.Single(await Refusals(world), r => r.Subject == subject);
        Assert.Equal((Names.Roles.Regulator, "POST /api/v1/bids", 403, 1L, "POST /api/v1/bids", "audit-test/1.0"),
            (refused.Role, refused.Action, refused.StatusCode, refused.Count, refused.Example, refused.UserAgent));
    }

    /// <summary>Every refused request used to be a row of its own: anyone could fill the table without a token.</summary>
    [Fact]
    public async Task Refusals_are_counted_per_caller_and_minute_so_an_anonymous_flood_is_one_row()
    {
        var world = await web.WorldAsync();
        using var anonymous = web.Client();
        anonymous.DefaultRequestHeaders.UserAgent.ParseAdd($"flood-{Scenario.Unique("run")}");
        for (var i = 0; i < 300; i++)
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.PostAsync($"{Names.Hub.Path}/negotiate?negotiateVersion=1", null)).StatusCode);
        }
        await web.Factory.Services.GetRequiredService<AuditLog>().FlushAsync(CancellationToken.None);

        // Other tests' anonymous refusals of the same minute may share the row; this flood's user agent is on it alone.
        var agent = anonymous.DefaultRequestHeaders.UserAgent.ToString();
        Assert.Equal(1, await web.Database.ScalarAsync<long>("SELECT count(*) FROM audit_refusals WHERE user_agent = @a", ("a", agent)));
        Assert.Equal($"anonymous none POST {Names.Hub.Path}/negotiate 401 300 address:", await web.Database.ScalarAsync<string>(
            "SELECT concat_ws(' ', subject, role, action, status_code, count, split_part(caller, ':', 1) || ':') FROM audit_refusals WHERE user_agent = @a",
            ("a", agent)));
    }

    [Fact]
    public async Task A_change_a_user_makes_to_what_is_theirs_is_on_the_trail()
    {
        var world = await web.WorldAsync();
        var response = await world.Client(Role.Provider).PatchAsync($"/api/v1/providers/{world.ProviderP}/pools/{world.PoolP.Id}",
            new StringContent("{\"askFenPerGpuHour\":1500}", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var trail = await Trail(world);
        Assert.Contains(trail, e => e.Role == Names.Roles.Provider && e.Action == "PATCH /api/v1/providers/{id}/pools/{poolId}"
            && e.Resource == $"PATCH /api/v1/providers/{world.ProviderP}/pools/{world.PoolP.Id}" && e.Outcome == "ok" && e.StatusCode == 200);
    }

    [Theory]
    [InlineData("UPDATE audit_log SET outcome = 'ok'")]
    [InlineData("DELETE FROM audit_log")]
    [InlineData("TRUNCATE audit_log")]
    [InlineData("UPDATE audit_refusals SET count = 1")]
    [InlineData("DELETE FROM audit_refusals")]
    public async Task The_trail_cannot_be_edited_or_removed_by_the_application(string statement)
    {
        await web.WorldAsync();
        var refused = await Assert.ThrowsAsync<Npgsql.PostgresException>(() => web.Database.ScalarAsync<int>($"{statement}; SELECT 1"));
        Assert.Equal(Npgsql.PostgresErrorCodes.InsufficientPrivilege, refused.SqlState);
        Assert.Contains("append-only", refused.MessageText);
    }

    [Fact]
    public async Task An_admin_action_that_fails_inside_the_market_is_audited_with_the_status_it_got()
    {
        var world = await web.WorldAsync();
        var admin = world.Client(Role.Admin);
        var id = Scenario.Unique("prog");
        Assert.Equal(HttpStatusCode.Created, (await admin.SendAsync(new Call("POST", "/api/v1/programs", Catalog.NoValues, Catalog.NoValues,
            Catalog.ProgramBody(world, id), Scenario.Unique("key")))).StatusCode);
        var other = Catalog.ProgramBody(world, id);
        other["budgetFen"] = 200_000_000; // the same id with other terms: the program grain refuses it
        var conflict = await admin.SendAsync(new Call("POST", "/api/v1/programs", Catalog.NoValues, Catalog.NoValues, other, Scenario.Unique("key")));
        Assert.Equal(HttpStatusCode.Conflict, conflict.StatusCode);

        var trail = await Trail(world);
        Assert.Contains(trail, e => e.Resource == "POST /api/v1/programs" && e.Role == Names.Roles.Admin && e.StatusCode == 409 && e.Outcome == "failed");
    }

    [Fact]
    public async Task A_provider_reaching_for_another_providers_pool_through_its_own_id_is_refused_and_audited()
    {
        var world = await web.WorldAsync();
        // A person of its own, so the refusals counted are this test's only.
        var subject = Scenario.Unique("operator");
        var provider = web.Client();
        provider.DefaultRequestHeaders.Authorization =
            new("Bearer", web.Factory.Services.GetRequiredService<TokenIssuer>().Issue(Names.Roles.Provider, null, world.ProviderP, subject));
        var response = await provider.PatchAsync($"/api/v1/providers/{world.ProviderP}/pools/{world.PoolQ.Id}",
            new StringContent("{\"askFenPerGpuHour\":1}", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        var outage = await provider.SendAsync(new Call("POST", "/api/v1/providers/{id}/pools/{poolId}/outages",
            Catalog.Values(("id", world.ProviderP), ("poolId", world.PoolQ.Id)), Catalog.NoValues, Catalog.OutageBody(world, null)));
        Assert.Equal(HttpStatusCode.NotFound, outage.StatusCode);

        var refusals = await Refusals(world);
        Assert.Contains(refusals, r => r.Subject == subject && r.Example == $"PATCH /api/v1/providers/{world.ProviderP}/pools/{world.PoolQ.Id}" && r.StatusCode == 404);
        Assert.Contains(refusals, r => r.Subject == subject && r.Example == $"POST /api/v1/providers/{world.ProviderP}/pools/{world.PoolQ.Id}/outages" && r.StatusCode == 404);
        Assert.Equal(1_500, (await world.Scenario.PoolView(world.PoolQ.Id))!.AskFenPerGpuHour);
    }

    [Fact]
    public async Task Entries_still_queued_when_the_web_tier_stops_are_written()
    {
        var subject = Scenario.Unique("shutdown");
        var log = new AuditLog(web.Database.DataSource, NullLogger<AuditLog>.Instance, TimeProvider.System);
        for (var i = 0; i < 3; i++)
        {
            log.Record(new AuditEntry(DateTimeOffset.UtcNow, subject, Names.Roles.Admin, "test", $"entry {i}", "ok", 200, null));
        }
        await log.StopAsync(CancellationToken.None);
        Assert.Equal(3, await web.Database.ScalarAsync<long>("SELECT count(*) FROM audit_log WHERE subject = @s", ("s", subject)));

        var running = new AuditLog(web.Database.DataSource, NullLogger<AuditLog>.Instance, TimeProvider.System);
        await running.StartAsync(CancellationToken.None);
        var second = Scenario.Unique("shutdown");
        for (var i = 0; i < 1_000; i++)
        {
            running.Record(new AuditEntry(DateTimeOffset.UtcNow, second, Names.Roles.Regulator, "test", $"entry {i}", "ok", 200, null));
        }
        await running.StopAsync(CancellationToken.None);
        Assert.Equal(1_000, await web.Database.ScalarAsync<long>("SELECT count(*) FROM audit_log WHERE subject = @s", ("s", second)));
    }

    [Fact]
    public async Task The_trail_is_for_regulators_and_admins_only_and_its_paging_and_filters_are_validated()
    {
        var world = await web.WorldAsync();
        foreach (var role in new[] { Role.Sme, Role.Provider })
        {
            Assert.Equal(HttpStatusCode.Forbidden, (await world.Client(role).GetAsync("/api/v1/audit")).StatusCode);
        }
        Assert.Equal(HttpStatusCode.OK, (await world.Client(Role.Regulator).GetAsync("/api/v1/audit")).StatusCode);
        var admin = world.Client(Role.Admin);
        foreach (var query in new[] { "page=0", "pageSize=0", "pageSize=1001", "page=-5", "from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z",
                     "action=" + new string('a', 301) })
        {
            var response = await admin.GetAsync($"/api/v1/audit?{query}");
            Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
            Assert.Equal("validation", (await response.Problem()).Code());
        }
        var unreadable = await admin.GetAsync("/api/v1/audit?page=abc");
        Assert.Equal(HttpStatusCode.BadRequest, unreadable.StatusCode);
        Assert.Equal(2, (await (await admin.GetAsync("/api/v1/audit?pageSize=2")).Read<JsonArray>()).Count);
    }
}
