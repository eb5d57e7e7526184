using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Marketplace.Testing;
using Marketplace.Web.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Xunit;

namespace Marketplace.Web.Tests;

/// <summary>Accounts and sign-in over real HTTP through the web tier: the OpenID Connect flows, lockout, and which tokens the API trusts.</summary>
[Collection(AccountsCollection.Name)]
public sealed partial class AccountTests(AccountsCluster web)
{
    private const string RedirectUri = AccountFlows.RedirectUri;
    private const string Password = AccountFlows.Password;

    private readonly Api _api = new(web);
    private readonly AccountFlows _flows = new(web);

    private HttpClient Browser() => _flows.Browser();

    private Task<TestAccount> Register(string role) => _flows.Register(role);

    private static Task<HttpResponseMessage> SignIn(HttpClient browser, string email, string password, string returnUrl = "/") =>
        AccountFlows.SignIn(browser, email, password, returnUrl);

    private static string AuthorizeUrl(string challenge) => AccountFlows.AuthorizeUrl(challenge);

    private static Task<JsonElement> TokenResponse(HttpClient client, Dictionary<string, string> form, HttpStatusCode expected = HttpStatusCode.OK) =>
        AccountFlows.TokenResponse(client, form, expected);

    private HttpClient Bearer(string token) => _flows.Bearer(token);

    private static object TenantBody(string id) => new { name = $"Tenant {id}", kind = "Sme", province = "Beijing", creditCode = Scenario.NewCreditCode() };

    [Fact]
    public async Task Sign_in_code_with_pkce_gives_tokens_for_the_users_organisation_that_the_api_accepts_refreshes_and_signs_out()
    {
        var account = await Register(Names.Roles.Sme);
        var email = account.Email;
        var tenantId = account.TenantId!;
        var verifier = Base64UrlEncoder.Encode(RandomNumberGenerator.GetBytes(32));
        var challenge = Base64UrlEncoder.Encode(SHA256.HashData(Encoding.ASCII.GetBytes(verifier)));
        using var browser = Browser();

        // Not signed in: the authorization endpoint sends the browser to the sign-in page, which comes back to it.
        var authorize = await browser.GetAsync(AuthorizeUrl(challenge));
        Assert.Equal(HttpStatusCode.Redirect, authorize.StatusCode);
        var signInPage = authorize.Headers.Location!;
        Assert.Equal("/account/login", signInPage.IsAbsoluteUri ? signInPage.AbsolutePath : signInPage.OriginalString.Split('?')[0]);
        var returnUrl = Microsoft.AspNetCore.WebUtilities.QueryHelpers.ParseQuery(signInPage.Query.Length > 0 ? signInPage.Query : "?" + signInPage.OriginalString.Split('?')[1])["ReturnUrl"].ToString();
        var signedIn = await SignIn(browser, email, Password, returnUrl);
        Assert.Equal(HttpStatusCode.Redirect, signedIn.StatusCode);
        Assert.Equal(returnUrl, signedIn.Headers.Location!.OriginalString);

        var back = await browser.GetAsync(returnUrl);
        Assert.Equal(HttpStatusCode.Redirect, back.StatusCode);
        var callback = back.Headers.Location!;
        Assert.StartsWith(RedirectUri, callback.AbsoluteUri);
        var query = Microsoft.AspNetCore.WebUtilities.QueryHelpers.ParseQuery(callback.Query);
        Assert.Equal("s-1", query["state"].ToString());
        var code = query["code"].ToString();

        // The code is bound to the challenge: with another verifier it is refused.
        var exchange = new Dictionary<string, string>
        {
            ["grant_type"] = "authorization_code", ["code"] = code, ["redirect_uri"] = RedirectUri, ["client_id"] = "marketplace-dashboards",
        };
        var refused = await TokenResponse(browser, new Dictionary<string, string>(exchange)
        {
            ["code_verifier"] = Base64UrlEncoder.Encode(RandomNumberGenerator.GetBytes(32)),
        }, HttpStatusCode.BadRequest);
        Assert.Equal("invalid_grant", refused.GetProperty("error").GetString());

        // A second authorization, then the exchange with the verifier.
        var again = await browser.GetAsync(AuthorizeUrl(challenge));
        var secondCode = Microsoft.AspNetCore.WebUtilities.QueryHelpers.ParseQuery(again.Headers.Location!.Query)["code"].ToString();
        var tokens = await TokenResponse(browser, new Dictionary<string, string>(exchange) { ["code"] = secondCode, ["code_verifier"] = verifier });
        var access = tokens.GetProperty("access_token").GetString()!;
        var claims = new JsonWebToken(access);
        Assert.Equal(WebCluster.Issuer, claims.Issuer);
        Assert.Equal(Names.Roles.Sme, claims.GetClaim(Names.Claims.Role).Value);
        Assert.Equal(tenantId, claims.GetClaim(Names.Claims.TenantId).Value);

        // The API takes it as the user's organisation.
        using (var sme = Bearer(access))
        {
            Assert.Equal(HttpStatusCode.OK, (await sme.PostAsJsonAsync("/api/v1/tenants", TenantBody(tenantId))).StatusCode);
            var me = await sme.GetFromJsonAsync<JsonElement>("/api/v1/tenants/me");
            Assert.Equal(tenantId, me.GetProperty("id").GetString());
        }

        // A refresh token gives a new access token that works too.
        var refreshed = await TokenResponse(browser, new Dictionary<string, string>
        {
            ["grant_type"] = "refresh_token", ["refresh_token"] = tokens.GetProperty("refresh_token").GetString()!, ["client_id"] = "marketplace-dashboards",
        });
        var renewed = refreshed.GetProperty("access_token").GetString()!;
        Assert.NotEqual(access, renewed);
        using (var sme = Bearer(renewed))
        {
            Assert.Equal(HttpStatusCode.OK, (await sme.GetAsync("/api/v1/tenants/me")).StatusCode);
        }

        // Signing out ends the session: the next authorization asks for the password again.
        var signOut = await browser.GetAsync("/connect/endsession");
        Assert.Equal(HttpStatusCode.Redirect, signOut.StatusCode);
        var afterSignOut = await browser.GetAsync(AuthorizeUrl(challenge));
        Assert.Equal(HttpStatusCode.Redirect, afterSignOut.StatusCode);
        Assert.StartsWith("/account/login", afterSignOut.Headers.Location!.IsAbsoluteUri ? afterSignOut.Headers.Location.PathAndQuery : afterSignOut.Headers.Location.OriginalString);
    }

    [Fact]
    public async Task Client_credentials_give_an_api_client_a_token_acting_for_its_organisation_and_role()
    {
        var tenantId = Scenario.Unique("tenant");
        using var admin = web.Admin();
        var created = await admin.PostAsJsonAsync("/api/v1/clients", new { displayName = "Acme batch scheduler", role = Names.Roles.Sme, tenantId });
        Assert.True(created.StatusCode == HttpStatusCode.Created, await created.Content.ReadAsStringAsync());
        var client = await created.Content.ReadFromJsonAsync<JsonElement>();

        using var anonymous = web.Client();
        var form = new Dictionary<string, string>
        {
            ["grant_type"] = "client_credentials", ["client_id"] = client.GetProperty("clientId").GetString()!,
            ["client_secret"] = client.GetProperty("clientSecret").GetString()!, ["scope"] = "marketplace",
        };
        var access = (await TokenResponse(anonymous, form)).GetProperty("access_token").GetString()!;
        var claims = new JsonWebToken(access);
        Assert.Equal(Names.Roles.Sme, claims.GetClaim(Names.Claims.Role).Value);
        Assert.Equal(tenantId, claims.GetClaim(Names.Claims.TenantId).Value);

        using var sme = Bearer(access);
        Assert.Equal(HttpStatusCode.OK, (await sme.PostAsJsonAsync("/api/v1/tenants", TenantBody(tenantId))).StatusCode);
        Assert.Equal(tenantId, (await sme.GetFromJsonAsync<JsonElement>("/api/v1/tenants/me")).GetProperty("id").GetString());
        // An SME's token is still an SME's: the programme office's endpoints refuse it.
        Assert.Equal(HttpStatusCode.Forbidden, (await sme.GetAsync("/api/v1/companies?state=pending")).StatusCode);

        // A wrong secret gets nothing.
        var wrong = await TokenResponse(anonymous, new Dictionary<string, string>(form) { ["client_secret"] = "not-the-secret" }, HttpStatusCode.Unauthorized);
        Assert.Equal("invalid_client", wrong.GetProperty("error").GetString());
    }

    [Fact]
    public async Task Discovery_names_the_flows_and_the_key_set_that_verifies_the_providers_access_tokens()
    {
        using var anonymous = web.Client();
        var discovery = await anonymous.GetFromJsonAsync<JsonElement>("/.well-known/openid-configuration");
        Assert.Equal(WebCluster.Issuer, discovery.GetProperty("issuer").GetString());
        Assert.Equal(WebCluster.Issuer + "connect/token", discovery.GetProperty("token_endpoint").GetString());
        var grants = discovery.GetProperty("grant_types_supported").EnumerateArray().Select(g => g.GetString()).ToList();
        Assert.Subset(grants.ToHashSet(), new HashSet<string?> { "authorization_code", "client_credentials", "refresh_token" });
        Assert.Equal(["S256"], discovery.GetProperty("code_challenge_methods_supported").EnumerateArray().Select(m => m.GetString()).ToList());

        // Anyone holding the published key set can check a token the provider issued.
        var keys = new JsonWebKeySet(await anonymous.GetStringAsync(new Uri(discovery.GetProperty("jwks_uri").GetString()!).PathAndQuery));
        using var admin = web.Admin();
        var client = await (await admin.PostAsJsonAsync("/api/v1/clients", new { displayName = "Key check", role = Names.Roles.Regulator }))
            .Content.ReadFromJsonAsync<JsonElement>();
        var access = (await TokenResponse(anonymous, new Dictionary<string, string>
        {
            ["grant_type"] = "client_credentials", ["client_id"] = client.GetProperty("clientId").GetString()!,
            ["client_secret"] = client.GetProperty("clientSecret").GetString()!, ["scope"] = "marketplace",
        })).GetProperty("access_token").GetString()!;
        var checkedToken = await new JsonWebTokenHandler().ValidateTokenAsync(access, new TokenValidationParameters
        {
            ValidIssuer = WebCluster.Issuer, ValidAudience = "marketplace-api", IssuerSigningKeys = keys.GetSigningKeys(),
        });
        Assert.True(checkedToken.IsValid, checkedToken.Exception?.Message);
        Assert.Equal(Names.Roles.Regulator, checkedToken.Claims[Names.Claims.Role]);
    }

    [Fact]
    public async Task Lockout_after_five_failed_sign_ins_even_the_right_password_is_refused_and_each_failure_is_audited()
    {
        var account = await Register(Names.Roles.Provider);
        var (id, email) = (account.Id, account.Email);
        using var browser = Browser();
        for (var attempt = 1; attempt <= 5; attempt++)
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await SignIn(browser, email, "wrong-password-" + attempt)).StatusCode);
        }
        // Locked: the right password gets the answer a wrong one gets (the page never tells whether an account is locked).
        var locked = await SignIn(browser, email, Password);
        Assert.Equal(HttpStatusCode.Unauthorized, locked.StatusCode);
        Assert.Contains("邮箱或密码不正确", await locked.Content.ReadAsStringAsync());
        Assert.True(await web.Database.ScalarAsync<bool>("""SELECT "LockoutEnd" > now() FROM account_users WHERE "Id" = @id""", ("id", id)));

        await web.Factory.Services.GetRequiredService<AuditLog>().FlushAsync(CancellationToken.None);
        var outcomes = await web.Database.ScalarAsync<string>(
            "SELECT string_agg(outcome, ',' ORDER BY id) FROM audit_log WHERE subject = @s AND resource = 'sign-in'", ("s", id));
        Assert.Equal("failed,failed,failed,failed,locked-out,locked-out", outcomes);
    }

    [Fact]
    public async Task Seeding_makes_the_first_admin_and_in_development_one_demo_user_per_role_who_sign_in_with_their_password()
    {
        // The seeder runs beside the host's start; its work is done when its task is.
        await web.Factory.Services.GetServices<IHostedService>().OfType<Marketplace.Web.Accounts.AccountSeeder>().Single().ExecuteTask!;
        var expected = new (string Email, string Password, string Role)[]
        {
            (AccountsCluster.FirstAdminEmail, AccountsCluster.FirstAdminPassword, Names.Roles.Admin),
            ("sme@demo.local", "demo-password-2026", Names.Roles.Sme),
            ("provider@demo.local", "demo-password-2026", Names.Roles.Provider),
            ("regulator@demo.local", "demo-password-2026", Names.Roles.Regulator),
            ("admin@demo.local", "demo-password-2026", Names.Roles.Admin),
        };
        foreach (var (email, password, role) in expected)
        {
            Assert.Equal(role, await web.Database.ScalarAsync<string>("""SELECT "Role" FROM account_users WHERE "Email" = @e""", ("e", email)));
            using var browser = Browser();
            var signedIn = await SignIn(browser, email, password);
            Assert.True(signedIn.StatusCode == HttpStatusCode.Redirect, $"{email}: {signedIn.StatusCode}");
        }
    }

    [Fact]
    public async Task Lockout_the_right_password_signs_in_before_any_failure()
    {
        var account = await Register(Names.Roles.Provider);
        using var browser = Browser();
        var signedIn = await SignIn(browser, account.Email, Password);
        Assert.Equal(HttpStatusCode.Redirect, signedIn.StatusCode);
        Assert.Equal("/", signedIn.Headers.Location!.OriginalString);
    }

    private static string Sign(string issuer, string audience, SecurityKey key, Dictionary<string, object> claims)
    {
        var now = DateTime.UtcNow;
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = issuer, Audience = audience, Claims = claims, IssuedAt = now, NotBefore = now.AddMinutes(-1), Expires = now.AddMinutes(10),
            SigningCredentials = new SigningCredentials(key, SecurityAlgorithms.RsaSha256),
        });
    }

    private static Dictionary<string, object> Regulator() => new() { [Names.Claims.Subject] = "gov-user-1", [Names.Claims.Role] = Names.Roles.Regulator };

    [Fact]
    public async Task External_authority_a_token_signed_with_its_configured_key_set_is_accepted()
    {
        using var regulator = Bearer(Sign(AccountsCluster.ExternalIssuer, AccountsCluster.ExternalAudience, AccountsCluster.ExternalKey, Regulator()));
        Assert.Equal(HttpStatusCode.OK, (await regulator.GetAsync("/api/v1/companies?state=pending")).StatusCode);
    }

    [Theory]
    [InlineData("an unknown issuer")]
    [InlineData("the external authority's issuer, signed with another key")]
    [InlineData("this marketplace's issuer, signed with another key")]
    [InlineData("this marketplace's issuer, signed with the external authority's key")]
    public async Task A_token_from_an_unknown_issuer_or_signed_with_a_key_its_issuer_does_not_hold_is_401(string what)
    {
        var stranger = new RsaSecurityKey(RSA.Create(2048)) { KeyId = AccountsCluster.ExternalKey.KeyId };
        var token = what switch
        {
            "an unknown issuer" => Sign("https://sso.example.com/", AccountsCluster.ExternalAudience, stranger, Regulator()),
            "the external authority's issuer, signed with another key" => Sign(AccountsCluster.ExternalIssuer, AccountsCluster.ExternalAudience, stranger, Regulator()),
            "this marketplace's issuer, signed with another key" => Sign(WebCluster.Issuer, "marketplace-api", stranger, Regulator()),
            _ => Sign(WebCluster.Issuer, "marketplace-api", AccountsCluster.ExternalKey, Regulator()),
        };
        using var caller = Bearer(token);
        var response = await caller.GetAsync("/api/v1/companies?state=pending");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Theory]
    [InlineData("marketplace-api", Names.Roles.Regulator)] // the audience of this marketplace's own provider
    [InlineData(AccountsCluster.ExternalAudience, Names.Roles.Admin)]
    public async Task External_authority_a_token_for_another_audience_or_making_an_admin_is_401(string audience, string role)
    {
        var claims = Regulator();
        claims[Names.Claims.Role] = role;
        using var caller = Bearer(Sign(AccountsCluster.ExternalIssuer, audience, AccountsCluster.ExternalKey, claims));
        Assert.Equal(HttpStatusCode.Unauthorized, (await caller.GetAsync("/api/v1/companies?state=pending")).StatusCode);
    }

    [Theory]
    [InlineData("/\t/evil.example")]
    [InlineData("/\n")]
    [InlineData("/\u00e9t\u00e9")]
    [InlineData("//evil.example")]
    [InlineData("/\\evil.example")]
    [InlineData("https://evil.example/")]
    public async Task Sign_in_never_sends_the_browser_off_the_site_nor_fails_on_where_it_was_asked_to_go(string returnUrl)
    {
        var account = await Register(Names.Roles.Sme);
        using var browser = Browser();
        var signedIn = await SignIn(browser, account.Email, Password, returnUrl);
        Assert.Equal(HttpStatusCode.Redirect, signedIn.StatusCode);
        Assert.Equal("/", signedIn.Headers.Location?.OriginalString);
    }

    [Fact]
    public async Task Company_a_signed_in_users_unverified_organisation_can_read_but_not_bid_until_verified()
    {
        var tenantId = Scenario.Unique("tenant");
        using var admin = web.Admin();
        var created = await admin.PostAsJsonAsync("/api/v1/clients", new { displayName = "Acme", role = Names.Roles.Sme, tenantId });
        var client = await created.Content.ReadFromJsonAsync<JsonElement>();
        using var anonymous = web.Client();
        var access = (await TokenResponse(anonymous, new Dictionary<string, string>
        {
            ["grant_type"] = "client_credentials", ["client_id"] = client.GetProperty("clientId").GetString()!,
            ["client_secret"] = client.GetProperty("clientSecret").GetString()!, ["scope"] = "marketplace",
        })).GetProperty("access_token").GetString()!;

        using var sme = Bearer(access);
        Assert.Equal(HttpStatusCode.OK, (await sme.PostAsJsonAsync("/api/v1/tenants", TenantBody(tenantId))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await sme.GetAsync("/api/v1/tenants/me")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await sme.GetAsync("/api/v1/markets/H800-80G/book")).StatusCode);
        var start = Hours.ToTime(Hours.Floor(DateTimeOffset.UtcNow) + 2);
        object Bid() => new
        {
            gpuModel = "H800-80G", gpuCount = 1, durationHours = 1, earliestStart = start, latestStart = start, maxFenPerGpuHour = 2_000, timeInForce = "Ioc",
        };
        var refused = await sme.PostJson("/api/v1/bids", Bid(), Scenario.Unique("bid"));
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Equal("company-not-verified", (await refused.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());

        await _api.Verify("tenants", tenantId);
        var placed = await sme.PostJson("/api/v1/bids", Bid(), Scenario.Unique("bid"));
        Assert.True(placed.StatusCode == HttpStatusCode.Created, await placed.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Register_anyone_may_open_a_new_organisation_but_not_join_an_existing_one_or_take_an_office_role()
    {
        var account = await Register(Names.Roles.Sme);
        Assert.Matches("^t-[0-9a-f]{12}$", account.TenantId!);

        using var anonymous = web.Client();
        foreach (var body in new object[]
        {
            new { email = $"{Scenario.Unique("u")}@example.cn", password = Password, role = Names.Roles.Sme, tenantId = account.TenantId },
            new { email = $"{Scenario.Unique("u")}@example.cn", password = Password, role = Names.Roles.Admin },
        })
        {
            Assert.Equal(HttpStatusCode.UnprocessableEntity, (await anonymous.PostAsJsonAsync("/api/v1/accounts", body)).StatusCode);
        }

        await web.Factory.Services.GetRequiredService<AuditLog>().FlushAsync(CancellationToken.None);
        var detail = await web.Database.ScalarAsync<string>("SELECT detail FROM audit_log WHERE subject = @s ORDER BY id LIMIT 1", ("s", account.Id));
        Assert.Equal($"account {account.Id} created as sme for tenant {account.TenantId}", detail);
    }

    [Fact]
    public async Task Role_change_by_an_admin_applies_to_the_accounts_next_token_and_is_audited()
    {
        var account = await Register(Names.Roles.Sme);
        var id = account.Id;
        using var admin = web.Admin();
        var changed = await admin.PutAsJsonAsync($"/api/v1/accounts/{id}/role", new { role = Names.Roles.Regulator });
        Assert.True(changed.StatusCode == HttpStatusCode.OK, await changed.Content.ReadAsStringAsync());
        Assert.Equal(Names.Roles.Regulator, (await changed.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("role").GetString());

        await web.Factory.Services.GetRequiredService<AuditLog>().FlushAsync(CancellationToken.None);
        var detail = await web.Database.ScalarAsync<string>("SELECT detail FROM audit_log WHERE action = 'PUT /api/v1/accounts/{id}/role' AND resource = @r",
            ("r", $"PUT /api/v1/accounts/{id}/role"));
        Assert.Equal($"account {id}: sme for tenant {account.TenantId} -> regulator", detail);
    }

    [Theory]
    [InlineData("127.0.0.1", HttpStatusCode.OK)]
    [InlineData("::1", HttpStatusCode.OK)]
    [InlineData("192.0.2.10", HttpStatusCode.Forbidden)]
    [InlineData("2001:db8::10", HttpStatusCode.Forbidden)]
    public async Task Dev_token_is_issued_to_loopback_callers_only(string address, HttpStatusCode expected)
    {
        var context = await web.Factory.Server.SendAsync(c =>
        {
            c.Connection.RemoteIpAddress = IPAddress.Parse(address);
            c.Request.Method = "POST";
            c.Request.Path = "/api/v1/auth/dev-token";
            c.Request.ContentType = "application/json";
            var body = """{"role":"admin"}"""u8.ToArray();
            c.Request.ContentLength = body.Length;
            c.Request.Body = new MemoryStream(body);
            // The test server decided there is no body before this ran: say there is one, read from the stream set here.
            c.Features.Set<IHttpRequestBodyDetectionFeature>(new WithBody());
            c.Features.Set<IRequestBodyPipeFeature>(new RequestBodyPipeFeature(c));
        });
        var body = await new StreamReader(context.Response.Body).ReadToEndAsync();
        Assert.True((int)expected == context.Response.StatusCode, $"{context.Response.StatusCode}: {body}");
    }

    private sealed class WithBody : IHttpRequestBodyDetectionFeature
    {
        public bool CanHaveBody => true;
    }

}
