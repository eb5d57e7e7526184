using System.Net;
using System.Text.Json.Nodes;
using Marketplace.Testing;
using Marketplace.Web.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Marketplace.Security.Tests;

/// <summary>Idempotency keys, kept in PostgreSQL for 24 hours per caller: a repeat is answered with the first response.</summary>
[Collection(MatrixCollection.Name)]
public sealed class IdempotencyTests(MatrixCluster web)
{
    private static Task<HttpResponseMessage> PostBid(HttpClient client, JsonObject body, string key) =>
        client.SendAsync(new Call("POST", "/api/v1/bids", Catalog.NoValues, Catalog.NoValues, body, key));

    private Task<long> Bids(string tenant) => web.Database.ScalarAsync<long>("SELECT count(*) FROM bids WHERE tenant_id = @t", ("t", tenant));

    [Fact]
    public async Task A_repeat_with_the_same_key_and_body_gets_the_first_response_and_places_one_bid()
    {
        var world = await web.WorldAsync();
        var client = world.Client(Role.Sme);
        var body = Catalog.BidBody(world, world.VoucherA.Id, resting: true);
        var key = Scenario.Unique("key");
        var before = await Bids(world.TenantA);

        var first = await PostBid(client, body, key);
        var repeat = await PostBid(client, body, key);

        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal(HttpStatusCode.Created, repeat.StatusCode);
        Assert.Equal(await first.Content.ReadAsStringAsync(), await repeat.Content.ReadAsStringAsync());
        Assert.Equal(first.Content.Headers.ContentType, repeat.Content.Headers.ContentType);
        Assert.Equal(first.Headers.Location, repeat.Headers.Location);
        Assert.False(first.Headers.Contains("Idempotent-Replayed"));
        Assert.Equal("true", Assert.Single(repeat.Headers.GetValues("Idempotent-Replayed")));
        Assert.Equal(before + 1, await Bids(world.TenantA));
    }

    [Fact]
    public async Task The_same_key_with_another_body_is_a_422_and_changes_nothing()
    {
        var world = await web.WorldAsync();
        var client = world.Client(Role.Sme);
        var key = Scenario.Unique("key");
        Assert.Equal(HttpStatusCode.Created, (await PostBid(client, Catalog.BidBody(world, null, resting: true), key)).StatusCode);
        var before = await Bids(world.TenantA);

        var other = Catalog.BidBody(world, null, resting: true);
        other["gpuCount"] = 2;
        var reused = await PostBid(client, other, key);

        Assert.Equal(HttpStatusCode.UnprocessableEntity, reused.StatusCode);
        Assert.Equal("idempotency-key-reused", (await reused.Problem()).Code());
        Assert.Equal(before, await Bids(world.TenantA));
    }

    /// <summary>Both used to run: one key created two programmes when two bodies arrived at the same moment.</summary>
    [Fact]
    public async Task One_key_sent_at_once_with_different_bodies_runs_one_of_them_and_refuses_the_others()
    {
        var world = await web.WorldAsync();
        var admin = world.Client(Role.Admin);
        var key = Scenario.Unique("key");
        var ids = Enumerable.Range(0, 8).Select(_ => Scenario.Unique("prog")).ToList();

        var answers = await Task.WhenAll(ids.Select(id =>
            admin.SendAsync(new Call("POST", "/api/v1/programs/", Catalog.NoValues, Catalog.NoValues, Catalog.ProgramBody(world, id), key))));

        Assert.Single(answers, a => a.StatusCode == HttpStatusCode.Created);
        foreach (var refused in answers.Where(a => a.StatusCode != HttpStatusCode.Created))
        {
            var code = (await refused.Problem()).Code();
            Assert.True(refused.StatusCode == HttpStatusCode.Conflict && code == "idempotency-key-in-flight"
                || refused.StatusCode == HttpStatusCode.UnprocessableEntity && code == "idempotency-key-reused", $"{(int)refused.StatusCode} {code}");
        }
        Assert.Equal(1, await web.Database.ScalarAsync<long>("SELECT count(*) FROM programs WHERE id = ANY(@ids)", ("ids", ids.ToArray())));
    }

    [Fact]
    public async Task A_key_whose_first_request_is_still_running_is_answered_409_with_retry_after_and_runs_nothing()
    {
        var world = await web.WorldAsync();
        var issuer = web.Factory.Services.GetRequiredService<TokenIssuer>();
        var subject = Scenario.Unique("person");
        var client = web.Client();
        client.DefaultRequestHeaders.Authorization = new("Bearer", issuer.Issue(Names.Roles.Sme, world.TenantA, null, subject));
        var key = Scenario.Unique("key");
        // The first request has claimed the key and not finished.
        var store = web.Factory.Services.GetRequiredService<IdempotencyStore>();
        var principal = IdempotencyStore.Principal(new Caller(subject, Names.Roles.Sme, world.TenantA, null));
        Assert.IsType<KeyState.Claimed>(await store.ClaimAsync(principal, key, "the first request", CancellationToken.None));
        var before = await Bids(world.TenantA);

        var second = await PostBid(client, Catalog.BidBody(world, null, resting: true), key);

        Assert.Equal(HttpStatusCode.Conflict, second.StatusCode);
        Assert.Equal("idempotency-key-in-flight", (await second.Problem()).Code());
        Assert.NotNull(second.Headers.RetryAfter);
        Assert.Equal(before, await Bids(world.TenantA));
    }

    [Fact]
    public async Task Keys_belong_to_their_caller_so_another_tenant_never_gets_my_response()
    {
        var world = await web.WorldAsync();
        var key = Scenario.Unique("key");
        var body = Catalog.BidBody(world, null, resting: true);
        var mine = await (await PostBid(world.Client(Role.Sme), body, key)).Read<BidView>();
        var theirsResponse = await PostBid(web.Sme(world.TenantB), body, key);

        Assert.Equal(HttpStatusCode.Created, theirsResponse.StatusCode);
        Assert.False(theirsResponse.Headers.Contains("Idempotent-Replayed"));
        var theirs = await theirsResponse.Read<BidView>();
        Assert.Equal(world.TenantB, theirs.TenantId);
        Assert.NotEqual(mine.Id, theirs.Id);
    }

    [Fact]
    public async Task One_person_acting_for_two_tenants_keeps_their_keys_apart()
    {
        var world = await web.WorldAsync();
        var issuer = web.Factory.Services.GetRequiredService<TokenIssuer>();
        HttpClient As(string tenant)
        {
            var client = web.Client();
            client.DefaultRequestHeaders.Authorization = new("Bearer", issuer.Issue(Names.Roles.Sme, tenant, null, subject: "user-wang-li"));
            return client;
        }
        var key = Scenario.Unique("key");
        var body = Catalog.BidBody(world, null, resting: true);
        var forA = await (await PostBid(As(world.TenantA), body, key)).Read<BidView>();
        var forBResponse = await PostBid(As(world.TenantB), body, key);

        Assert.Equal(HttpStatusCode.Created, forBResponse.StatusCode);
        Assert.False(forBResponse.Headers.Contains("Idempotent-Replayed"));
        Assert.Equal(world.TenantA, forA.TenantId);
        Assert.Equal(world.TenantB, (await forBResponse.Read<BidView>()).TenantId);
    }

    /// <summary>The first runs; the others, arriving while it runs, are told to retry; a retry gets the first's answer.</summary>
    [Fact]
    public async Task Repeats_sent_at_once_have_one_effect_and_a_retry_gets_the_first_answer()
    {
        var world = await web.WorldAsync();
        var client = world.Client(Role.Sme);
        var body = Catalog.BidBody(world, null, resting: true);
        var key = Scenario.Unique("key");
        var before = await Bids(world.TenantA);

        var responses = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => PostBid(client, body, key)));

        var created = responses.Where(r => r.StatusCode == HttpStatusCode.Created).ToList();
        Assert.NotEmpty(created);
        foreach (var told in responses.Where(r => r.StatusCode != HttpStatusCode.Created))
        {
            Assert.Equal(HttpStatusCode.Conflict, told.StatusCode);
            Assert.Equal("idempotency-key-in-flight", (await told.Problem()).Code());
            Assert.NotNull(told.Headers.RetryAfter);
        }
        var retry = await PostBid(client, body, key);
        Assert.Equal(HttpStatusCode.Created, retry.StatusCode);
        var ids = await Task.WhenAll(created.Append(retry).Select(async r => (await r.Read<BidView>()).Id));
        Assert.Single(ids.Distinct());
        Assert.Equal(before + 1, await Bids(world.TenantA));
    }

    [Fact]
    public async Task Every_endpoint_that_takes_a_key_creates_once_per_key()
    {
        var world = await web.WorldAsync();
        var program = await world.Scenario.Program();
        var calls = new (Role Role, Call Call, string Table)[]
        {
            (Role.Admin, new Call("POST", "/api/v1/programs", Catalog.NoValues, Catalog.NoValues, Catalog.ProgramBody(world, Scenario.Unique("prog")),
                Scenario.Unique("key")), "programs"),
            (Role.Sme, new Call("POST", "/api/v1/programs/{id}/vouchers", Catalog.Values(("id", program)), Catalog.NoValues,
                new JsonObject { ["amountFen"] = 100_000 }, Scenario.Unique("key")), "vouchers"),
            (Role.Provider, new Call("POST", "/api/v1/providers/{id}/pools", Catalog.Values(("id", world.ProviderP)), Catalog.NoValues,
                new JsonObject { ["siteId"] = World.SiteWithPools, ["gpuModel"] = World.ModelOfP, ["gpuCount"] = 2, ["askFenPerGpuHour"] = 9_000 },
                Scenario.Unique("key")), "pools"),
            (Role.Sme, new Call("POST", "/api/v1/bids", Catalog.NoValues, Catalog.NoValues, Catalog.BidBody(world, null, resting: true),
                Scenario.Unique("key")), "bids"),
        };
        foreach (var (role, call, table) in calls)
        {
            var client = world.Client(role);
            var rows = await web.Database.ScalarAsync<long>($"SELECT count(*) FROM {table}");
            var first = await client.SendAsync(call);
            var second = await client.SendAsync(call);
            Assert.True(first.StatusCode == HttpStatusCode.Created, $"{call.Pattern}: {await first.Content.ReadAsStringAsync()}");
            Assert.Equal(HttpStatusCode.Created, second.StatusCode);
            Assert.Equal(await first.Content.ReadAsStringAsync(), await second.Content.ReadAsStringAsync());
            Assert.Equal(rows + 1, await web.Database.ScalarAsync<long>($"SELECT count(*) FROM {table}"));
        }
    }

    [Fact]
    public async Task A_key_is_kept_for_24_hours_and_then_forgotten()
    {
        // Programs take their id from the body, not from the key, so only the stored response remembers the key.
        var world = await web.WorldAsync();
        var admin = world.Client(Role.Admin);
        var key = Scenario.Unique("key");
        Call Create(string id) => new("POST", "/api/v1/programs", Catalog.NoValues, Catalog.NoValues, Catalog.ProgramBody(world, id), key);
        Assert.Equal(HttpStatusCode.Created, (await admin.SendAsync(Create(Scenario.Unique("prog")))).StatusCode);
        var later = Scenario.Unique("prog");

        await Age(key, TimeSpan.FromHours(23) + TimeSpan.FromMinutes(59));
        var stillKept = await admin.SendAsync(Create(later));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, stillKept.StatusCode);
        Assert.Equal("idempotency-key-reused", (await stillKept.Problem()).Code());

        await Age(key, TimeSpan.FromHours(24) + TimeSpan.FromSeconds(1));
        var forgotten = await admin.SendAsync(Create(later));
        Assert.Equal(HttpStatusCode.Created, forgotten.StatusCode);
        Assert.False(forgotten.Headers.Contains("Idempotent-Replayed"));
        var replayed = await admin.SendAsync(Create(later));
        Assert.Equal("true", Assert.Single(replayed.Headers.GetValues("Idempotent-Replayed")));
        Assert.Equal(await forgotten.Content.ReadAsStringAsync(), await replayed.Content.ReadAsStringAsync());

        await Age(key, TimeSpan.FromHours(25));
        var store = web.Factory.Services.GetRequiredService<IdempotencyStore>();
        Assert.True(await store.DeleteExpiredAsync(CancellationToken.None) >= 1);
        Assert.Equal(0, await web.Database.ScalarAsync<long>("SELECT count(*) FROM idempotency_keys WHERE key = @k", ("k", key)));
    }

    [Theory]
    [InlineData(101)]
    [InlineData(5000)]
    public async Task A_key_longer_than_100_characters_is_refused(int length)
    {
        var world = await web.WorldAsync();
        var response = await PostBid(world.Client(Role.Sme), Catalog.BidBody(world, null, resting: true), new string('k', length));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("invalid-idempotency-key", (await response.Problem()).Code());
    }

    [Theory]
    [InlineData("has space")]
    [InlineData("tab\tkey")]
    [InlineData("del\u007fkey")]
    public async Task A_key_with_other_than_visible_ascii_is_refused(string key)
    {
        var world = await web.WorldAsync();
        using var request = new Call("POST", "/api/v1/bids", Catalog.NoValues, Catalog.NoValues, Catalog.BidBody(world, null, resting: true)).ToRequest();
        request.Headers.TryAddWithoutValidation(Names.Headers.IdempotencyKey, key);
        var response = await world.Client(Role.Sme).SendAsync(request);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("invalid-idempotency-key", (await response.Problem()).Code());
    }

    /// <summary>Makes the stored response to <paramref name="key"/> look <paramref name="age"/> old on the market clock.</summary>
    private async Task Age(string key, TimeSpan age)
    {
        await using var command = web.Database.DataSource.CreateCommand("UPDATE idempotency_keys SET created_at = @at WHERE key = @k");
        command.Parameters.AddWithValue("at", web.Clock.GetUtcNow() - age);
        command.Parameters.AddWithValue("k", key);
        Assert.Equal(1, await command.ExecuteNonQueryAsync());
    }
}
