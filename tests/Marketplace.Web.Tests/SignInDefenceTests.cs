using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Marketplace.Testing;
using Marketplace.Web.Accounts;
using Marketplace.Web.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.IdentityModel.JsonWebTokens;
using Xunit;

namespace Marketplace.Web.Tests;

/// <summary>
/// What an attacker tries against the accounts, each through the real endpoints: guessing passwords in parallel, telling
/// which emails have accounts, keeping a token after losing a role, flooding the token endpoint, guessing a second factor.
/// </summary>
[Collection(AccountsCollection.Name)]
public sealed class SignInDefenceTests(AccountsCluster web)
{
    private const string Password = AccountFlows.Password;
    private const string Book = "/api/v1/markets/H800-80G/book";

    private readonly AccountFlows _flows = new(web);

    /// <summary>A new account that has turned its second factor on, and the key its authenticator app holds.</summary>
    private async Task<(TestAccount Account, string Key)> WithSecondFactorAsync()
    {
        var account = await _flows.Register(Names.Roles.Sme);
        using var browser = _flows.Browser();
        Assert.Equal(HttpStatusCode.Redirect, (await AccountFlows.SignIn(browser, account.Email, Password)).StatusCode);
        return (account, await AccountFlows.EnableSecondFactor(browser));
    }

    private Task FlushAudit() => web.Factory.Services.GetRequiredService<AuditLog>().FlushAsync(CancellationToken.None);

    private Task<bool> LockedOut(string id) =>
        web.Database.ScalarAsync<bool>("""SELECT coalesce("LockoutEnd" > now(), false) FROM account_users WHERE "Id" = @id""", ("id", id));

    private async Task Lock(TestAccount account)
    {
        using var browser = _flows.Browser();
        for (var attempt = 1; attempt <= 5; attempt++)
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await AccountFlows.SignIn(browser, account.Email, $"wrong-password-{attempt}")).StatusCode);
        }
        Assert.True(await LockedOut(account.Id));
    }

    /// <summary>
    /// Identity counted a failure by updating the user row it had read: attempts that read the row at the same time all
    /// wrote the same count (or lost the concurrency check and counted nothing), so twenty guesses at once counted as one
    /// or two, and the account never locked.
    /// </summary>
    [Fact]
    public async Task Lockout_twenty_wrong_passwords_sent_at_once_lock_the_account_and_the_right_password_is_refused_until_the_lockout_ends()
    {
        var account = await _flows.Register(Names.Roles.Sme);
        var browsers = Enumerable.Range(0, 20).Select(_ => _flows.Browser()).ToList();
        HttpResponseMessage[] answers;
        try
        {
            // Each guess from a browser of its own, the forms fetched first, then all sent together.
            var forms = await Task.WhenAll(browsers.Select((b, i) => AccountFlows.SignInForm(b, account.Email, $"wrong-password-{i}")));
            answers = await Task.WhenAll(browsers.Select((b, i) => b.PostAsync("/account/login", forms[i])));
        }
        finally
        {
            browsers.ForEach(b => b.Dispose());
        }

        Assert.True(await LockedOut(account.Id), "twenty wrong passwords at once did not lock the account");
        // Each counted up to the limit; those that came after it found the account locked and changed nothing.
        Assert.Equal(AccountsSetup.MaxFailedSignIns, await web.Database.ScalarAsync<int>(
            """SELECT "AccessFailedCount" FROM account_users WHERE "Id" = @id""", ("id", account.Id)));
        using (var browser = _flows.Browser())
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await AccountFlows.SignIn(browser, account.Email, Password)).StatusCode);
        }
        Assert.All(answers, a => Assert.Equal(HttpStatusCode.Unauthorized, a.StatusCode));

        // Fifteen minutes on, the lockout has ended: the right password signs in again.
        await web.Database.ScalarAsync<int>("""UPDATE account_users SET "LockoutEnd" = now() - interval '1 second' WHERE "Id" = @id RETURNING 1""",
            ("id", account.Id));
        using (var browser = _flows.Browser())
        {
            Assert.Equal(HttpStatusCode.Redirect, (await AccountFlows.SignIn(browser, account.Email, Password)).StatusCode);
        }
    }

    /// <summary>It answered 423 for a locked account and 401 for an unknown email: whoever asked learnt which emails have accounts.</summary>
    [Fact]
    public async Task Sign_in_answers_an_unknown_email_a_wrong_password_and_a_locked_account_with_the_same_status_and_text()
    {
        var known = await _flows.Register(Names.Roles.Provider);
        var locked = await _flows.Register(Names.Roles.Provider);
        await Lock(locked);
        var unknownEmail = $"{Scenario.Unique("nobody")}@example.cn";

        using var browser = _flows.Browser();
        var answers = new List<(HttpStatusCode Status, string? Problem)>();
        foreach (var (email, password) in new[] { (unknownEmail, Password), (known.Email, "not-the-password"), (locked.Email, Password) })
        {
            var answer = await AccountFlows.SignIn(browser, email, password);
            answers.Add((answer.StatusCode, AccountFlows.Problem(await answer.Content.ReadAsStringAsync())));
        }
        Assert.All(answers, a => Assert.Equal(answers[0], a));
        Assert.Equal(HttpStatusCode.Unauthorized, answers[0].Status);
        Assert.StartsWith("邮箱或密码不正确", answers[0].Problem);

        // The operators' trail tells them apart.
        await FlushAudit();
        Assert.Equal($"unknown-account failed sign-in failed for {Check.Trim(unknownEmail)}: no account has this email", await web.Database.ScalarAsync<string>(
            "SELECT concat_ws(' ', subject, outcome, detail) FROM audit_log WHERE resource = 'sign-in' AND detail LIKE @d", ("d", $"%{unknownEmail}%")));
        Assert.Equal("failed: wrong password", await web.Database.ScalarAsync<string>(
            "SELECT outcome || ': ' || split_part(detail, ': ', 2) FROM audit_log WHERE resource = 'sign-in' AND subject = @s", ("s", known.Id)));
        Assert.Equal("locked-out: the account is locked", await web.Database.ScalarAsync<string>(
            "SELECT outcome || ': ' || split_part(detail, ': ', 2) FROM audit_log WHERE resource = 'sign-in' AND subject = @s ORDER BY id DESC LIMIT 1",
            ("s", locked.Id)));
    }

    /// <summary>An unknown email was answered without hashing anything, so it was answered sooner than a wrong password.</summary>
    [Fact]
    public async Task Sign_in_checks_a_password_hash_for_an_unknown_email_and_a_locked_account_as_for_a_wrong_password()
    {
        var known = await _flows.Register(Names.Roles.Sme);
        var locked = await _flows.Register(Names.Roles.Sme);
        using var browser = _flows.Browser();
        async Task OneHashChecked(string email, string password)
        {
            var form = await AccountFlows.SignInForm(browser, email, password);
            var before = web.Hashes.Verified;
            Assert.Equal(HttpStatusCode.Unauthorized, (await browser.PostAsync("/account/login", form)).StatusCode);
            Assert.True(web.Hashes.Verified == before + 1, $"{email}: {web.Hashes.Verified - before} password hashes checked");
        }
        await OneHashChecked($"{Scenario.Unique("nobody")}@example.cn", Password);
        await OneHashChecked(known.Email, "not-the-password");
        await Lock(locked);
        await OneHashChecked(locked.Email, Password);
    }

    /// <summary>It answered 409 email-taken: anyone could ask whether an email has an account.</summary>
    [Fact]
    public async Task Register_answers_a_new_and_a_taken_email_alike_and_tells_the_owner_of_the_taken_one_by_mail()
    {
        var email = $"{Scenario.Unique("user")}@example.cn";
        using var anonymous = web.Client();
        var first = await anonymous.PostAsJsonAsync("/api/v1/accounts", new { email, password = Password, role = Names.Roles.Sme });
        var again = await anonymous.PostAsJsonAsync("/api/v1/accounts", new { email, password = "another-password-1", role = Names.Roles.Provider });
        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, again.StatusCode);
        Assert.Equal(await first.Content.ReadAsStringAsync(), await again.Content.ReadAsStringAsync());
        // A password too short is refused alike, whether the email is taken or not.
        foreach (var address in new[] { email, $"{Scenario.Unique("user")}@example.cn" })
        {
            Assert.Equal(HttpStatusCode.UnprocessableEntity,
                (await anonymous.PostAsJsonAsync("/api/v1/accounts", new { email = address, password = "short", role = Names.Roles.Sme })).StatusCode);
        }

        var id = await web.Database.ScalarAsync<string>("""SELECT "Id" FROM account_users WHERE "Email" = @e""", ("e", email));
        Assert.Equal(1, await web.Database.ScalarAsync<long>("""SELECT count(*) FROM account_users WHERE "NormalizedEmail" = upper(@e)""", ("e", email)));
        var mail = web.Mail.To(email);
        Assert.Equal(2, mail.Count);
        Assert.Contains("请确认您的邮箱", mail[0]);
        Assert.Contains("/account/confirm?", mail[0]);
        Assert.Contains("already have an account", mail[1]);

        await FlushAudit();
        var tenant = await web.Database.ScalarAsync<string>("""SELECT "TenantId" FROM account_users WHERE "Id" = @id""", ("id", id));
        Assert.Equal($"ok: account {id} created as sme for tenant {tenant} | refused: a registration for this account's email was refused; the owner was told by mail",
            await web.Database.ScalarAsync<string>("SELECT string_agg(outcome || ': ' || detail, ' | ' ORDER BY id) FROM audit_log WHERE subject = @s", ("s", id)));
    }

    /// <summary>
    /// A demoted account kept its role for as long as its access token lasted (an hour), and its refresh token went on
    /// giving it tokens after the change (for the new role, but to whoever held the old grant).
    /// </summary>
    [Fact]
    public async Task A_token_issued_before_the_accounts_role_changed_is_refused_and_so_is_its_refresh_the_next_sign_in_has_the_new_role()
    {
        var account = await _flows.Register(Names.Roles.Sme);
        var tokens = await _flows.Tokens(account.Email);
        var access = tokens.GetProperty("access_token").GetString()!;
        using (var sme = _flows.Bearer(access))
        {
            Assert.Equal(HttpStatusCode.OK, (await sme.GetAsync(Book)).StatusCode);
        }

        using (var admin = web.Admin())
        {
            var changed = await admin.PutAsJsonAsync($"/api/v1/accounts/{account.Id}/role", new { role = Names.Roles.Provider, providerId = Scenario.Unique("prov") });
            Assert.True(changed.StatusCode == HttpStatusCode.OK, await changed.Content.ReadAsStringAsync());
        }
        using (var stale = _flows.Bearer(access))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await stale.GetAsync(Book)).StatusCode);
        }

        var refused = await AccountFlows.TokenResponse(web.Client(), new Dictionary<string, string>
        {
            ["grant_type"] = "refresh_token", ["refresh_token"] = tokens.GetProperty("refresh_token").GetString()!, ["client_id"] = "marketplace-dashboards",
        }, HttpStatusCode.BadRequest);
        Assert.Equal("invalid_grant", refused.GetProperty("error").GetString());

        var renewed = (await _flows.Tokens(account.Email)).GetProperty("access_token").GetString()!;
        Assert.Equal(Names.Roles.Provider, new JsonWebToken(renewed).GetClaim(Names.Claims.Role).Value);
        using var provider = _flows.Bearer(renewed);
        Assert.Equal(HttpStatusCode.OK, (await provider.GetAsync(Book)).StatusCode);
    }

    /// <summary>Turning the second factor on made a new stamp, but a refresh token issued under the old one kept giving tokens.</summary>
    [Fact]
    public async Task A_refresh_token_issued_before_the_second_factor_was_turned_on_is_refused()
    {
        var account = await _flows.Register(Names.Roles.Sme);
        var tokens = await _flows.Tokens(account.Email);
        using (var browser = _flows.Browser())
        {
            Assert.Equal(HttpStatusCode.Redirect, (await AccountFlows.SignIn(browser, account.Email, Password)).StatusCode);
            await AccountFlows.EnableSecondFactor(browser);
        }
        var refused = await AccountFlows.TokenResponse(web.Client(), new Dictionary<string, string>
        {
            ["grant_type"] = "refresh_token", ["refresh_token"] = tokens.GetProperty("refresh_token").GetString()!, ["client_id"] = "marketplace-dashboards",
        }, HttpStatusCode.BadRequest);
        Assert.Equal("invalid_grant", refused.GetProperty("error").GetString());
    }

    /// <summary>The sign-in session (cookie) outlived a role change: the authorization endpoint went on issuing codes to it without a password.</summary>
    [Fact]
    public async Task A_sign_in_session_ends_when_the_accounts_stamp_changes()
    {
        var account = await _flows.Register(Names.Roles.Sme);
        using var browser = _flows.Browser();
        Assert.Equal(HttpStatusCode.Redirect, (await AccountFlows.SignIn(browser, account.Email, Password)).StatusCode);
        var challenge = Microsoft.IdentityModel.Tokens.Base64UrlEncoder.Encode(new byte[32]);
        var before = await browser.GetAsync(AccountFlows.AuthorizeUrl(challenge));
        Assert.Equal(HttpStatusCode.Redirect, before.StatusCode);
        Assert.StartsWith(AccountFlows.RedirectUri, before.Headers.Location!.AbsoluteUri);

        using (var admin = web.Admin())
        {
            var changed = await admin.PutAsJsonAsync($"/api/v1/accounts/{account.Id}/role", new { role = Names.Roles.Regulator });
            Assert.True(changed.StatusCode == HttpStatusCode.OK, await changed.Content.ReadAsStringAsync());
        }
        var after = await browser.GetAsync(AccountFlows.AuthorizeUrl(challenge));
        Assert.Equal(HttpStatusCode.Redirect, after.StatusCode);
        Assert.Contains("/account/login?ReturnUrl=", after.Headers.Location!.OriginalString);
    }

    /// <summary>
    /// Registration answers a free and a taken address alike, but signing in with the password just sent told them apart
    /// (it worked only where the address had been free). An unconfirmed account's right password is answered as a wrong
    /// one, after the same work, and its owner is mailed the link again; once confirmed it signs in.
    /// </summary>
    [Fact]
    public async Task Sign_in_of_an_unconfirmed_account_is_answered_as_a_wrong_password_mails_the_link_again_and_the_link_lets_it_in()
    {
        var unconfirmed = await _flows.Register(Names.Roles.Sme, confirm: false);
        var known = await _flows.Register(Names.Roles.Sme);
        using var browser = _flows.Browser();
        var answers = new List<(HttpStatusCode Status, string? Problem, int Hashes)>();
        foreach (var (email, password) in new[] { (known.Email, "not-the-password"), (unconfirmed.Email, Password) })
        {
            var hashes = web.Hashes.Verified;
            var answer = await AccountFlows.SignIn(browser, email, password);
            answers.Add((answer.StatusCode, AccountFlows.Problem(await answer.Content.ReadAsStringAsync()), web.Hashes.Verified - hashes));
        }
        Assert.Equal(answers[0], answers[1]);
        Assert.Equal((HttpStatusCode.Unauthorized, 1), (answers[0].Status, answers[0].Hashes));

        var mail = web.Mail.To(unconfirmed.Email);
        Assert.Equal(2, mail.Count);
        Assert.All(mail, m => Assert.Contains("/account/confirm?", m));
        await FlushAudit();
        Assert.Equal("failed: the address is not confirmed; the confirmation link was mailed again", await web.Database.ScalarAsync<string>(
            "SELECT outcome || ': ' || split_part(detail, ': ', 2) FROM audit_log WHERE resource = 'sign-in' AND subject = @s", ("s", unconfirmed.Id)));

        // A link altered is refused; the one mailed (either) confirms the address, and the password signs in.
        var link = AccountFlows.ConfirmationLink(mail[1]);
        using var anonymous = web.Client();
        Assert.Equal(HttpStatusCode.BadRequest, (await anonymous.GetAsync(link.Replace("code=", "code=x", StringComparison.Ordinal))).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await AccountFlows.SignIn(browser, unconfirmed.Email, Password)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync(link)).StatusCode);
        Assert.Equal(HttpStatusCode.Redirect, (await AccountFlows.SignIn(browser, unconfirmed.Email, Password)).StatusCode);
    }

    [Fact]
    public async Task A_token_of_an_account_locked_after_it_was_issued_is_refused_and_so_is_its_refresh_which_is_audited()
    {
        var account = await _flows.Register(Names.Roles.Sme);
        var tokens = await _flows.Tokens(account.Email);
        using var sme = _flows.Bearer(tokens.GetProperty("access_token").GetString()!);
        Assert.Equal(HttpStatusCode.OK, (await sme.GetAsync(Book)).StatusCode);

        await Lock(account);
        Assert.Equal(HttpStatusCode.Unauthorized, (await sme.GetAsync(Book)).StatusCode);
        using var anonymous = web.Client();
        var agent = $"refresh-{Scenario.Unique("run")}";
        anonymous.DefaultRequestHeaders.UserAgent.ParseAdd(agent);
        var refused = await AccountFlows.TokenResponse(anonymous, new Dictionary<string, string>
        {
            ["grant_type"] = "refresh_token", ["refresh_token"] = tokens.GetProperty("refresh_token").GetString()!, ["client_id"] = "marketplace-dashboards",
        }, HttpStatusCode.BadRequest);
        Assert.Equal("invalid_grant", refused.GetProperty("error").GetString());

        await FlushAudit();
        Assert.Equal($"{account.Id} POST /connect/token grant_type=refresh_token 400 1", await web.Database.ScalarAsync<string>(
            "SELECT concat_ws(' ', subject, action, status_code, count) FROM audit_refusals WHERE user_agent = @a", ("a", agent)));
    }

    [Fact]
    public async Task A_token_of_a_deleted_account_is_refused()
    {
        var account = await _flows.Register(Names.Roles.Sme);
        var access = (await _flows.Tokens(account.Email)).GetProperty("access_token").GetString()!;
        await web.Database.ScalarAsync<int>("""DELETE FROM account_users WHERE "Id" = @id RETURNING 1""", ("id", account.Id));
        using var sme = _flows.Bearer(access);
        Assert.Equal(HttpStatusCode.Unauthorized, (await sme.GetAsync(Book)).StatusCode);
    }

    /// <summary>Another web node's change (here: one made in the database behind the cache's back) applies once the cache time has passed.</summary>
    [Fact]
    public async Task Account_stamps_are_read_again_once_the_cache_time_has_passed_and_at_once_when_forgotten()
    {
        var account = await _flows.Register(Names.Roles.Sme);
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var stamps = new AccountStamps(web.Database.DataSource, clock);
        var first = await stamps.CurrentAsync(account.Id, CancellationToken.None);
        Assert.NotNull(first);

        await web.Database.ScalarAsync<int>("""UPDATE account_users SET "SecurityStamp" = 'changed-elsewhere' WHERE "Id" = @id RETURNING 1""", ("id", account.Id));
        clock.Advance(AccountStamps.CacheFor - TimeSpan.FromMilliseconds(1));
        Assert.Equal(first, await stamps.CurrentAsync(account.Id, CancellationToken.None));
        clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(AccountStamps.Digest("changed-elsewhere"), await stamps.CurrentAsync(account.Id, CancellationToken.None));

        await web.Database.ScalarAsync<int>("""UPDATE account_users SET "LockoutEnd" = now() + interval '1 hour' WHERE "Id" = @id RETURNING 1""", ("id", account.Id));
        stamps.Forget(account.Id);
        Assert.Null(await stamps.CurrentAsync(account.Id, CancellationToken.None));
    }

    /// <summary>
    /// A hub connection over WebSockets, as the dashboards open it: authenticated once, when it opens (over long polling
    /// every poll and send is a request of its own, authenticated again). No automatic reconnect: a close is final.
    /// </summary>
    private async Task<HubConnection> WebSocketHub(string token)
    {
        var server = web.Factory.Server;
        var hub = new HubConnectionBuilder()
            .WithUrl(new Uri(server.BaseAddress, Names.Hub.Path), o =>
            {
                o.Transports = Microsoft.AspNetCore.Http.Connections.HttpTransportType.WebSockets;
                o.SkipNegotiation = true;
                o.WebSocketFactory = async (context, cancellationToken) =>
                {
                    var client = server.CreateWebSocketClient();
                    client.ConfigureRequest = request => request.Headers.Authorization = $"Bearer {token}";
                    return await client.ConnectAsync(context.Uri, cancellationToken);
                };
            })
            .AddJsonProtocol(o => WebSetup.ConfigureJson(o.PayloadSerializerOptions))
            .Build();
        await hub.StartAsync();
        return hub;
    }

    /// <summary>A hub connection was authenticated once, when it opened: a demoted account's connection went on calling the hub as its old role.</summary>
    [Fact]
    public async Task Hub_after_the_accounts_role_changed_its_open_connections_next_call_is_refused()
    {
        var account = await _flows.Register(Names.Roles.Sme);
        var access = (await _flows.Tokens(account.Email)).GetProperty("access_token").GetString()!;
        await using var hub = await WebSocketHub(access);
        Assert.Equal(JsonValueKind.Array, (await hub.InvokeAsync<JsonElement>("Snapshot")).GetProperty("bids").ValueKind);

        using (var admin = web.Admin())
        {
            var changed = await admin.PutAsJsonAsync($"/api/v1/accounts/{account.Id}/role", new { role = Names.Roles.Regulator });
            Assert.True(changed.StatusCode == HttpStatusCode.OK, await changed.Content.ReadAsStringAsync());
        }
        var refused = await Assert.ThrowsAsync<Microsoft.AspNetCore.SignalR.HubException>(() => hub.InvokeAsync<JsonElement>("Snapshot"));
        Assert.EndsWith("HubException: the account was changed, locked or removed after the token was issued", refused.Message);
    }

    /// <summary>A hub connection outlived its token: it stayed open, receiving pushes, until the client left.</summary>
    [Fact]
    public async Task Hub_a_connection_whose_token_expires_is_closed_by_the_server()
    {
        var settings = web.Factory.Services.GetRequiredService<AuthSettings>();
        // A development token that expires three seconds from now (the issuer's clock is set back by the rest of its lifetime).
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow - settings.TokenLifetime + TimeSpan.FromSeconds(3));
        var token = new TokenIssuer(settings, clock).Issue(Names.Roles.Sme, Scenario.Unique("t"), null);
        await using var hub = await WebSocketHub(token);
        var ended = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
        hub.Closed += e => { ended.TrySetResult(e); return Task.CompletedTask; };
        Assert.Equal(JsonValueKind.Array, (await hub.InvokeAsync<JsonElement>("Snapshot")).GetProperty("bids").ValueKind);

        // Bounded: the server closes the connection once the token has expired; a connection left open fails the test here.
        await ended.Task.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(HubConnectionState.Disconnected, hub.State);
    }

    /// <summary>
    /// A read under way when the account was forgotten (its stamp changed on this node) stored the stamp it had read before
    /// the change, and the node answered with it for the cache time.
    /// </summary>
    [Fact]
    public async Task Account_stamps_a_read_under_way_when_the_account_is_forgotten_is_not_remembered()
    {
        var account = await _flows.Register(Names.Roles.Sme);
        var stamps = new HeldStamps(web.Database.DataSource, new FakeTimeProvider(DateTimeOffset.UtcNow));
        var held = new TaskCompletionSource<string?>();
        stamps.Held = held.Task;
        var inFlight = stamps.CurrentAsync(account.Id, CancellationToken.None);

        stamps.Forget(account.Id);
        stamps.Held = null;
        held.SetResult("the-digest-from-before");
        Assert.Equal("the-digest-from-before", await inFlight);
        var stamp = await web.Database.ScalarAsync<string>("""SELECT "SecurityStamp" FROM account_users WHERE "Id" = @id""", ("id", account.Id));
        Assert.Equal(AccountStamps.Digest(stamp), await stamps.CurrentAsync(account.Id, CancellationToken.None));
        Assert.Equal(2, stamps.Reads);
    }

    /// <summary>Account stamps whose database read waits for the test while <see cref="Held"/> is set.</summary>
    private sealed class HeldStamps(Npgsql.NpgsqlDataSource db, TimeProvider clock) : AccountStamps(db, clock)
    {
        public Task<string?>? Held { get; set; }

        public int Reads { get; private set; }

        internal override async ValueTask<string?> ReadAsync(string userId, CancellationToken cancellationToken)
        {
            Reads++;
            return Held is { } held ? await held : await base.ReadAsync(userId, cancellationToken);
        }
    }

    [Fact]
    public async Task A_client_credentials_token_is_no_account_and_keeps_working()
    {
        var (clientId, secret) = await _flows.ApiClient(Names.Roles.Regulator);
        var access = (await AccountFlows.TokenResponse(web.Client(), AccountFlows.ClientCredentials(clientId, secret))).GetProperty("access_token").GetString()!;
        using var regulator = _flows.Bearer(access);
        for (var call = 0; call < 3; call++)
        {
            Assert.Equal(HttpStatusCode.OK, (await regulator.GetAsync(Book)).StatusCode);
        }
    }

    /// <summary>OpenIddict refused bad credentials, codes and refresh tokens before the marketplace saw them: nothing reached the trail.</summary>
    [Fact]
    public async Task Token_endpoint_refusals_are_audited_with_who_from_where_and_the_trace_counted_per_caller_and_minute()
    {
        var (clientId, _) = await _flows.ApiClient(Names.Roles.Sme, tenantId: Scenario.Unique("tenant"));
        using var anonymous = web.Client();
        var agent = $"token-refusals-{Scenario.Unique("run")}";
        anonymous.DefaultRequestHeaders.UserAgent.ParseAdd(agent);
        for (var attempt = 0; attempt < 30; attempt++)
        {
            var wrong = await AccountFlows.TokenResponse(anonymous, AccountFlows.ClientCredentials(clientId, "not-the-secret"), HttpStatusCode.Unauthorized);
            Assert.Equal("invalid_client", wrong.GetProperty("error").GetString());
        }
        var unknown = await anonymous.PostAsync("/connect/token", new FormUrlEncodedContent(AccountFlows.ClientCredentials("api-no-such-client", "anything")));
        Assert.False(unknown.IsSuccessStatusCode);
        var badCode = await AccountFlows.TokenResponse(anonymous, new Dictionary<string, string>
        {
            ["grant_type"] = "authorization_code", ["code"] = "not-a-code", ["redirect_uri"] = AccountFlows.RedirectUri, ["client_id"] = "marketplace-dashboards",
            ["code_verifier"] = new string('v', 43),
        }, HttpStatusCode.BadRequest);
        Assert.Equal("invalid_grant", badCode.GetProperty("error").GetString());
        await AccountFlows.TokenResponse(anonymous, new Dictionary<string, string>
        {
            ["grant_type"] = "refresh_token", ["refresh_token"] = "not-a-refresh-token", ["client_id"] = "marketplace-dashboards",
        }, HttpStatusCode.BadRequest);

        // Counted per address as every anonymous refusal is (the test server has no client address; Kestrel fills it in).
        await FlushAudit();
        Assert.True(await web.Database.ScalarAsync<long>("SELECT count(*) FROM audit_refusals WHERE user_agent = @a", ("a", agent)) > 0,
            "no refusal of the token endpoint is on the trail");
        await using var command = web.Database.DataSource.CreateCommand("""
            SELECT concat_ws(' ', subject, role, action, status_code, sum(count)), bool_and(trace_id IS NOT NULL AND caller LIKE 'address:%')
            FROM audit_refusals WHERE user_agent = @a GROUP BY subject, role, action, status_code ORDER BY 1
            """);
        command.Parameters.AddWithValue("a", agent);
        var rows = new List<string>();
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                Assert.True(reader.GetBoolean(1), $"{reader.GetString(0)}: no trace id, or not counted per address");
                rows.Add(reader.GetString(0));
            }
        }
        Assert.Equal(new[]
        {
            $"{clientId} none POST /connect/token grant_type=client_credentials 401 30",
            "marketplace-dashboards none POST /connect/token grant_type=authorization_code 400 1",
            "marketplace-dashboards none POST /connect/token grant_type=refresh_token 400 1",
            $"unknown-client none POST /connect/token grant_type=client_credentials {(int)unknown.StatusCode} 1",
        }.Order(StringComparer.Ordinal), rows.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Second_factor_once_on_sign_in_asks_for_the_code_after_the_password_and_wrong_codes_count_toward_lockout()
    {
        var (account, key) = await WithSecondFactorAsync();

        // The password, then the code: signed in, back where the sign-in was asked for.
        using (var browser = _flows.Browser())
        {
            var password = await AccountFlows.SignIn(browser, account.Email, Password, "/sme.html");
            var page = await password.Content.ReadAsStringAsync();
            Assert.True(password.StatusCode == HttpStatusCode.OK, page);
            Assert.Contains("验证码", page);
            var signedIn = await AccountFlows.SubmitCode(browser, page, Totp.Now(key));
            Assert.Equal(HttpStatusCode.Redirect, signedIn.StatusCode);
            Assert.Equal("/sme.html", signedIn.Headers.Location!.OriginalString);
        }

        // The password counts as an attempt until the code is right: it and four wrong codes lock the account.
        using (var browser = _flows.Browser())
        {
            var page = await (await AccountFlows.SignIn(browser, account.Email, Password)).Content.ReadAsStringAsync();
            for (var attempt = 1; attempt <= 4; attempt++)
            {
                var wrong = await AccountFlows.SubmitCode(browser, page, Totp.Wrong(key));
                Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
                page = await wrong.Content.ReadAsStringAsync();
                Assert.StartsWith("验证码不正确", AccountFlows.Problem(page));
            }
            Assert.True(await LockedOut(account.Id));
            Assert.Equal(HttpStatusCode.Unauthorized, (await AccountFlows.SubmitCode(browser, page, Totp.Now(key))).StatusCode);
        }
        using (var browser = _flows.Browser())
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await AccountFlows.SignIn(browser, account.Email, Password)).StatusCode);
        }
    }

    [Fact]
    public async Task A_right_password_that_locks_the_account_earns_one_code_attempt_and_a_replayed_session_no_second()
    {
        var (account, key) = await WithSecondFactorAsync();
        async Task FourWrongPasswords()
        {
            using var browser = _flows.Browser();
            for (var i = 0; i < AccountsSetup.MaxFailedSignIns - 1; i++)
            {
                Assert.Equal(HttpStatusCode.Unauthorized, (await AccountFlows.SignIn(browser, account.Email, "not-the-password")).StatusCode);
            }
        }

        // Four wrong passwords, then the right one (the fifth attempt locks the account) and the right code: signed in.
        await FourWrongPasswords();
        using (var browser = _flows.Browser())
        {
            var page = await (await AccountFlows.SignIn(browser, account.Email, Password)).Content.ReadAsStringAsync();
            Assert.True(await LockedOut(account.Id));
            var signedIn = await AccountFlows.SubmitCode(browser, page, Totp.Now(key));
            Assert.True(signedIn.StatusCode == HttpStatusCode.Redirect, AccountFlows.Problem(await signedIn.Content.ReadAsStringAsync()));
            Assert.False(await LockedOut(account.Id));
        }

        // Again, with a wrong code: the one chance is spent; the same pending sign-in sent again gets no second one.
        await FourWrongPasswords();
        using (var browser = _flows.Browser())
        {
            var page = await (await AccountFlows.SignIn(browser, account.Email, Password)).Content.ReadAsStringAsync();
            Assert.Equal(HttpStatusCode.Unauthorized, (await AccountFlows.SubmitCode(browser, page, Totp.Wrong(key))).StatusCode);
            Assert.Equal(HttpStatusCode.Unauthorized, (await AccountFlows.SubmitCode(browser, page, Totp.Now(key))).StatusCode);
            Assert.True(await LockedOut(account.Id));
        }
    }

    [Fact]
    public async Task A_second_factor_code_signs_in_once()
    {
        var (account, key) = await WithSecondFactorAsync();
        var code = Totp.Now(key);
        using (var browser = _flows.Browser())
        {
            var page = await (await AccountFlows.SignIn(browser, account.Email, Password)).Content.ReadAsStringAsync();
            Assert.Equal(HttpStatusCode.Redirect, (await AccountFlows.SubmitCode(browser, page, code)).StatusCode);
        }
        // The same code, seen once, is refused while it is still valid (and counted as a wrong one).
        using (var browser = _flows.Browser())
        {
            var page = await (await AccountFlows.SignIn(browser, account.Email, Password)).Content.ReadAsStringAsync();
            var replayed = await AccountFlows.SubmitCode(browser, page, code);
            Assert.Equal(HttpStatusCode.Unauthorized, replayed.StatusCode);
            Assert.StartsWith("验证码不正确", AccountFlows.Problem(await replayed.Content.ReadAsStringAsync()));
        }
    }
}
