using System.Net;
using System.Reflection;
using System.Text.Json;
using Marketplace.Testing;
using Marketplace.Web.Hubs;
using Marketplace.Web.Infrastructure;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Marketplace.Security.Tests;

/// <summary>The market hub: who may connect, which groups each may join, and that pushes reach their owner only.</summary>
[Collection(MatrixCollection.Name)]
public sealed class HubSecurityTests(MatrixCluster web)
{
    /// <summary>The hub methods a client may call; a new one fails <see cref="Every_hub_method_is_classified"/> until it has tests here.</summary>
    private static readonly string[] Classified = ["Join", "Snapshot"];

    [Fact]
    public void Every_hub_method_is_classified()
    {
        var methods = typeof(MarketHub).GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly)
            .Where(m => !m.IsSpecialName && m.Name != nameof(Hub.OnConnectedAsync)).Select(m => m.Name).Order(StringComparer.Ordinal);
        Assert.Equal(Classified.Order(StringComparer.Ordinal), methods);
    }

    private HubConnection Unstarted(string? accessToken) =>
        new HubConnectionBuilder()
            .WithUrl(new Uri(web.BaseAddress, Names.Hub.Path), o =>
            {
                if (accessToken is not null)
                {
                    o.AccessTokenProvider = () => Task.FromResult<string?>(accessToken);
                }
                o.Transports = HttpTransportType.LongPolling;
            })
            .Build();

    [Theory]
    [InlineData(null)]
    [InlineData("not-a-token")]
    [InlineData("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJtYWxsb3J5Iiwicm9sZSI6ImFkbWluIn0.")]
    public async Task A_connection_without_a_valid_token_is_refused(string? token)
    {
        await using var connection = Unstarted(token);
        var refused = await Assert.ThrowsAsync<HttpRequestException>(() => connection.StartAsync());
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
    }

    [Fact]
    public async Task A_hub_connection_closes_when_its_token_expires_though_the_token_would_still_pass_the_clock_skew()
    {
        // A token that expires a few seconds from now (issued as if its lifetime began that long before).
        var settings = web.Factory.Services.GetRequiredService<AuthSettings>();
        // A token's expiry is in whole seconds: take one, so that the token expires exactly then.
        var expiresAt = DateTimeOffset.FromUnixTimeSeconds(TimeProvider.System.GetUtcNow().AddSeconds(4).ToUnixTimeSeconds());
        var token = new TokenIssuer(settings, new Microsoft.Extensions.Time.Testing.FakeTimeProvider(expiresAt - settings.TokenLifetime))
            .Issue(Names.Roles.Regulator, null, null);
        await using var connection = Unstarted(token);
        var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.Closed += _ => { closed.TrySetResult(); return Task.CompletedTask; };
        await connection.StartAsync();
        Assert.Equal(HubConnectionState.Connected, connection.State);

        await closed.Task.WaitAsync(TimeSpan.FromSeconds(60));
        // The hub closed it because the token's lifetime ended, not because a request was refused: validation, which
        // allows 30 s of clock skew, still accepts the token at this moment.
        using var api = web.Client();
        api.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        Assert.Equal(HttpStatusCode.OK, (await api.GetAsync("/api/v1/utilization")).StatusCode);
        Assert.True(TimeProvider.System.GetUtcNow() >= expiresAt);
    }

    [Fact]
    public async Task A_token_in_the_query_string_is_honoured_for_the_hub_only()
    {
        var world = await web.WorldAsync();
        using var client = web.Client();
        var response = await client.GetAsync($"/api/v1/markets?access_token={world.Token(Role.Sme)}");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    public static TheoryData<Role, string> ForeignGroups => new()
    {
        { Role.Sme, "tenant:B" },
        { Role.Sme, "provider:P" },
        { Role.Sme, Names.Hub.RegulatorGroup },
        { Role.Sme, "" },
        { Role.Provider, "provider:Q" },
        { Role.Provider, "tenant:A" },
        { Role.Provider, Names.Hub.RegulatorGroup },
        { Role.Regulator, "tenant:A" },
        { Role.Regulator, "provider:P" },
        { Role.Admin, "tenant:B" },
    };

    [Theory]
    [MemberData(nameof(ForeignGroups))]
    public async Task Joining_a_group_that_is_not_the_callers_is_refused_and_audited(Role role, string group)
    {
        var world = await web.WorldAsync();
        group = group switch
        {
            "tenant:A" => Names.Hub.TenantGroup(world.TenantA),
            "tenant:B" => Names.Hub.TenantGroup(world.TenantB),
            "provider:P" => Names.Hub.ProviderGroup(world.ProviderP),
            "provider:Q" => Names.Hub.ProviderGroup(world.ProviderQ),
            _ => group,
        };
        await using var hub = await Connect(world, role);
        var error = await Assert.ThrowsAsync<HubException>(() => hub.Connection.InvokeAsync("Join", group));
        Assert.Contains("may not join", error.Message);

        var audit = web.Factory.Services.GetRequiredService<AuditLog>();
        await audit.FlushAsync(CancellationToken.None);
        var recorded = await web.Database.ScalarAsync<long>(
            "SELECT coalesce(sum(count), 0) FROM audit_refusals WHERE action = 'hub Join' AND status_code = 403 AND example = @r", ("r", $"group {Check.Trim(group)}"));
        Assert.True(recorded >= 1);
    }

    /// <summary>Any signed-in client can call Join as often as it likes: a refusal must not write an error with a stack trace.</summary>
    [Fact]
    public async Task A_refused_join_is_logged_as_a_warning_without_a_stack_trace()
    {
        var world = await web.WorldAsync();
        await using var hub = await Connect(world, Role.Sme);
        var group = Names.Hub.TenantGroup(world.TenantB);
        var before = web.Logs.GetSnapshot().Count;

        await Assert.ThrowsAsync<HubException>(() => hub.Connection.InvokeAsync("Join", group));

        var logged = web.Logs.GetSnapshot().Skip(before).ToList();
        var refusal = Assert.Single(logged, r => r.Message.Contains("Refused hub call Join", StringComparison.Ordinal));
        Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Warning, refusal.Level);
        Assert.Null(refusal.Exception);
        Assert.DoesNotContain(logged, r => r.Level >= Microsoft.Extensions.Logging.LogLevel.Error);
    }

    /// <summary>A regulator's Snapshot reads the whole market: calls over one connection are limited like requests are.</summary>
    [Fact]
    public async Task Hub_calls_past_the_burst_of_a_connection_are_refused()
    {
        var world = await web.WorldAsync();
        await using var hub = await Connect(world, Role.Regulator);
        var burst = new Marketplace.Web.Infrastructure.RateLimitSettings().HubCallBurst;
        var answered = 0;
        HubException? refused = null;
        while (refused is null && answered < 200)
        {
            try
            {
                await hub.Connection.InvokeAsync<JsonElement>("Snapshot");
                answered++;
            }
            catch (HubException e)
            {
                refused = e;
            }
        }
        Assert.NotNull(refused);
        Assert.Contains("too many calls", refused.Message);
        Assert.True(answered >= burst, $"only {answered} calls before the first refusal");
    }

    [Fact]
    public async Task Joining_with_no_group_at_all_is_refused_the_same_way()
    {
        var world = await web.WorldAsync();
        await using var hub = await Connect(world, Role.Sme);
        var error = await Assert.ThrowsAsync<HubException>(() => hub.Connection.InvokeAsync("Join", (string?)null));
        Assert.Contains("may not join", error.Message);
    }

    [Theory]
    [InlineData(Role.Sme)]
    [InlineData(Role.Provider)]
    [InlineData(Role.Regulator)]
    [InlineData(Role.Admin)]
    public async Task Each_role_may_rejoin_its_own_group(Role role)
    {
        var world = await web.WorldAsync();
        var own = role switch
        {
            Role.Sme => Names.Hub.TenantGroup(world.TenantA),
            Role.Provider => Names.Hub.ProviderGroup(world.ProviderP),
            _ => Names.Hub.RegulatorGroup,
        };
        await using var hub = await Connect(world, role);
        await hub.Connection.InvokeAsync("Join", own);
    }

    [Fact]
    public async Task A_regulators_hub_connection_is_audited_once_not_at_every_poll()
    {
        var subject = Scenario.Unique("regulator");
        var token = web.Factory.Services.GetRequiredService<TokenIssuer>().Issue(Names.Roles.Regulator, null, null, subject);
        await using (var connection = Unstarted(token))
        {
            await connection.StartAsync();
            for (var i = 0; i < 3; i++)
            {
                await connection.InvokeAsync<JsonElement>("Snapshot");
            }
        }
        await web.Factory.Services.GetRequiredService<AuditLog>().FlushAsync(CancellationToken.None);
        Assert.Equal(["POST /hubs/market/negotiate"], await Resources(subject));
    }

    private async Task<List<string>> Resources(string subject)
    {
        await using var command = web.Database.DataSource.CreateCommand("SELECT resource FROM audit_log WHERE subject = @s ORDER BY id");
        command.Parameters.AddWithValue("s", subject);
        await using var reader = await command.ExecuteReaderAsync();
        var resources = new List<string>();
        while (await reader.ReadAsync())
        {
            resources.Add(reader.GetString(0));
        }
        return resources;
    }

    [Fact]
    public async Task A_snapshot_holds_the_callers_own_things_only()
    {
        var world = await web.WorldAsync();
        await using (var sme = await Connect(world, Role.Sme))
        {
            var snapshot = await sme.Connection.InvokeAsync<JsonElement>("Snapshot");
            var text = snapshot.GetRawText();
            Assert.Contains(world.FilledBidA.Id, text);
            Assert.Contains(world.VoucherA.Id, text);
            Assert.DoesNotContain(world.FilledBidB.Id, text);
            Assert.DoesNotContain(world.VoucherB.Id, text);
            Assert.DoesNotContain(world.TenantB, text);
            Assert.Equal(JsonValueKind.Null, snapshot.GetProperty("utilization").ValueKind);
            Assert.Equal(JsonValueKind.Null, snapshot.GetProperty("takeUp").ValueKind);
        }
        await using (var provider = await Connect(world, Role.Provider))
        {
            var text = (await provider.Connection.InvokeAsync<JsonElement>("Snapshot")).GetRawText();
            Assert.Contains(world.PoolP.Id, text);
            Assert.Contains(world.ReservationA, text);
            Assert.DoesNotContain(world.PoolQ.Id, text);
            Assert.DoesNotContain(world.ReservationB, text);
        }
        // An SME token that acts for no tenant sees nothing at all.
        await using var nobody = await web.Hub(Names.Roles.Sme);
        var empty = await nobody.Connection.InvokeAsync<JsonElement>("Snapshot");
        Assert.All(new[] { "bids", "reservations", "vouchers", "pools", "utilization", "takeUp" },
            p => Assert.Equal(JsonValueKind.Null, empty.GetProperty(p).ValueKind));
    }

    [Fact]
    public async Task A_tenants_updates_reach_its_own_connection_and_no_other_tenants()
    {
        var world = await web.WorldAsync();
        await using var a = await Connect(world, Role.Sme);
        await using var b = await web.Hub(Names.Roles.Sme, tenantId: world.TenantB);
        await using var q = await web.Hub(Names.Roles.Provider, providerId: world.ProviderQ);

        var bBid = await world.NewRestingBid(world.TenantB);
        await b.WaitFor(Names.Hub.BidUpdated, p => p.GetProperty("data").GetProperty("id").GetString() == bBid.Id);
        // A's own update comes after B's through the same observer: once it is in, B's would be too had it leaked.
        var aBid = await world.NewRestingBid(world.TenantA);
        await a.WaitFor(Names.Hub.BidUpdated, p => p.GetProperty("data").GetProperty("id").GetString() == aBid.Id);

        Assert.DoesNotContain(a.All, m => m.Payload.GetRawText().Contains(world.TenantB, StringComparison.Ordinal));
        Assert.DoesNotContain(b.All, m => m.Payload.GetRawText().Contains(world.TenantA, StringComparison.Ordinal));
        Assert.DoesNotContain(q.All, m => m.Method == Names.Hub.BidUpdated);
    }

    private Task<HubClient> Connect(World world, Role role) => role switch
    {
        Role.Sme => web.Hub(Names.Roles.Sme, tenantId: world.TenantA),
        Role.Provider => web.Hub(Names.Roles.Provider, providerId: world.ProviderP),
        Role.Regulator => web.Hub(Names.Roles.Regulator),
        _ => web.Hub(Names.Roles.Admin),
    };
}
