using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Marketplace.Testing;
using Marketplace.Web.Accounts;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.Tokens;
using Xunit;

namespace Marketplace.Web.Tests;

/// <summary>
/// The web tier with an external authority (a government single sign-on) it trusts, whose key set the test holds; it
/// counts the password hashes the web tier checks and keeps the account mail it sends.
/// </summary>
public sealed class AccountsCluster : WebCluster
{
    public const string ExternalIssuer = "https://sso.example.gov.cn/";
    public const string ExternalAudience = "compute-voucher-marketplace";

    public static readonly RsaSecurityKey ExternalKey = new(RSA.Create(2048)) { KeyId = "gov-sso-test-1" };

    protected override IReadOnlyDictionary<string, string?> WebSettings => new Dictionary<string, string?>
    {
        ["Auth:External:Issuer"] = ExternalIssuer,
        ["Auth:External:Audience"] = ExternalAudience,
        ["Auth:External:KeySet"] = JsonSerializer.Serialize(new { keys = new[] { PublicJwk(ExternalKey) } }),
        ["Accounts:DemoUsers"] = "true",
        ["Accounts:FirstAdminEmail"] = FirstAdminEmail,
        ["Accounts:FirstAdminPassword"] = FirstAdminPassword,
    };

    public const string FirstAdminEmail = "first-admin@example.cn";
    public const string FirstAdminPassword = "first-admin-passphrase";

    /// <summary>Every password hash the web tier checked.</summary>
    public CountingPasswordHasher Hashes { get; } = new();

    /// <summary>The account mail the web tier sent (written to its log: no mail gateway is configured).</summary>
    public MailCapture Mail { get; } = new();

    protected override void ConfigureServices(IServiceCollection services)
    {
        services.AddSingleton<IPasswordHasher<MarketplaceUser>>(Hashes);
        services.AddSingleton<ILoggerProvider>(Mail);
    }

    private static Dictionary<string, string> PublicJwk(RsaSecurityKey key)
    {
        var parameters = key.Rsa.ExportParameters(includePrivateParameters: false);
        return new Dictionary<string, string>
        {
            ["kty"] = "RSA", ["use"] = "sig", ["alg"] = "RS256", ["kid"] = key.KeyId,
            ["n"] = Base64UrlEncoder.Encode(parameters.Modulus), ["e"] = Base64UrlEncoder.Encode(parameters.Exponent),
        };
    }
}

[CollectionDefinition(Name)]
public sealed class AccountsCollection : ICollectionFixture<AccountsCluster>
{
    public const string Name = "accounts";
}

/// <summary>Identity's password hasher, counting the hashes it checks.</summary>
public sealed class CountingPasswordHasher : PasswordHasher<MarketplaceUser>
{
    private int _verified;

    public int Verified => Volatile.Read(ref _verified);

    public override PasswordVerificationResult VerifyHashedPassword(MarketplaceUser user, string hashedPassword, string providedPassword)
    {
        Interlocked.Increment(ref _verified);
        return base.VerifyHashedPassword(user, hashedPassword, providedPassword);
    }
}

/// <summary>What the web tier's account mail wrote to the log, by recipient.</summary>
public sealed class MailCapture : ILoggerProvider
{
    private readonly ConcurrentQueue<(string To, string Text)> _sent = new();

    public IReadOnlyList<string> To(string email) => _sent.Where(m => m.To == email).Select(m => m.Text).ToList();

    public ILogger CreateLogger(string categoryName) => categoryName == "Marketplace.Web.Accounts.AccountMail" ? new Capture(this) : Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;

    public void Dispose()
    {
    }

    private sealed class Capture(MailCapture mail) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var to = state is IReadOnlyList<KeyValuePair<string, object?>> values ? values.FirstOrDefault(v => v.Key == "To").Value as string : null;
            if (to is not null)
            {
                mail._sent.Enqueue((to, formatter(state, exception)));
            }
        }
    }
}

/// <summary>An account as a test made it.</summary>
public sealed record TestAccount(string Id, string Email, string? TenantId, string? ProviderId);

/// <summary>What a person does with an account over HTTP: register, sign in (with a second factor), get tokens.</summary>
public sealed partial class AccountFlows(AccountsCluster web)
{
    public const string RedirectUri = WebCluster.Issuer + "signed-in.html";
    public const string Password = "correct-horse-battery";

    /// <summary>A browser: keeps cookies, does not follow redirects.</summary>
    public HttpClient Browser() => web.Factory.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true });

    public HttpClient Bearer(string token)
    {
        var client = web.Client();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    /// <summary>
    /// Registers as anyone does (the answer says nothing of the account), confirms the address through the link mailed to
    /// it (unless <paramref name="confirm"/> is false), then reads the account from the database.
    /// </summary>
    public async Task<TestAccount> Register(string role, bool confirm = true)
    {
        var email = $"{Scenario.Unique("user")}@example.cn";
        using var anonymous = web.Client();
        var response = await anonymous.PostAsJsonAsync("/api/v1/accounts", new { email, password = Password, role });
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, await response.Content.ReadAsStringAsync());
        if (confirm)
        {
            var confirmed = await anonymous.GetAsync(ConfirmationLink(web.Mail.To(email).Last()));
            Assert.True(confirmed.StatusCode == HttpStatusCode.OK, await confirmed.Content.ReadAsStringAsync());
        }
        var row = await web.Database.ScalarAsync<string>(
            """SELECT concat_ws('|', "Id", coalesce("TenantId", ''), coalesce("ProviderId", '')) FROM account_users WHERE "Email" = @e""", ("e", email));
        var parts = row.Split('|');
        return new TestAccount(parts[0], email, parts[1].Length > 0 ? parts[1] : null, parts[2].Length > 0 ? parts[2] : null);
    }

    /// <summary>The confirmation link of a mail, as a path on the site (the mail names the issuer's absolute URL).</summary>
    public static string ConfirmationLink(string mail)
    {
        var link = ConfirmationUrl().Match(mail);
        Assert.True(link.Success, mail);
        return new Uri(link.Value).PathAndQuery;
    }

    /// <summary>The antiforgery field of a page.</summary>
    public static string Antiforgery(string page) => WebUtility.HtmlDecode(AntiforgeryField().Match(page).Groups[1].Value);

    /// <summary>The sign-in form, ready to send (the page is fetched first, for its antiforgery token).</summary>
    public static async Task<FormUrlEncodedContent> SignInForm(HttpClient browser, string email, string password, string returnUrl = "/")
    {
        var page = await (await browser.GetAsync($"/account/login?ReturnUrl={Uri.EscapeDataString(returnUrl)}")).Content.ReadAsStringAsync();
        return new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["__RequestVerificationToken"] = Antiforgery(page), ["email"] = email, ["password"] = password, ["returnUrl"] = returnUrl,
        });
    }

    public static async Task<HttpResponseMessage> SignIn(HttpClient browser, string email, string password, string returnUrl = "/") =>
        await browser.PostAsync("/account/login", await SignInForm(browser, email, password, returnUrl));

    /// <summary>Answers the second-factor page the password step showed, with a code.</summary>
    public static async Task<HttpResponseMessage> SubmitCode(HttpClient browser, string codePage, string code)
    {
        var returnUrl = WebUtility.HtmlDecode(ReturnUrlField().Match(codePage).Groups[1].Value);
        return await browser.PostAsync("/account/login/code", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["__RequestVerificationToken"] = Antiforgery(codePage), ["code"] = code, ["returnUrl"] = returnUrl,
        }));
    }

    /// <summary>The text of a page's problem, if it shows one.</summary>
    public static string? Problem(string page) => ProblemText().Match(page) is { Success: true } m ? WebUtility.HtmlDecode(m.Groups[1].Value) : null;

    /// <summary>Turns on the second factor for the browser's signed-in user; answers the authenticator key the page showed.</summary>
    public static async Task<string> EnableSecondFactor(HttpClient browser)
    {
        var setup = await browser.GetAsync("/account/two-factor");
        var page = await setup.Content.ReadAsStringAsync();
        Assert.True(setup.StatusCode == HttpStatusCode.OK, page);
        var key = WebUtility.HtmlDecode(KeyField().Match(page).Groups[1].Value);
        Assert.Matches("^[A-Z2-7 ]{16,}$", key);
        Assert.Contains($"secret={key.Replace(" ", "", StringComparison.Ordinal)}", WebUtility.HtmlDecode(page));
        Assert.Contains("otpauth://totp/", page);
        var confirmed = await browser.PostAsync("/account/two-factor", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["__RequestVerificationToken"] = Antiforgery(page), ["code"] = Totp.Now(key),
        }));
        var answer = await confirmed.Content.ReadAsStringAsync();
        Assert.True(confirmed.StatusCode == HttpStatusCode.OK && answer.Contains("data-two-factor=\"on\"", StringComparison.Ordinal), answer);
        return key;
    }

    public static string AuthorizeUrl(string challenge) =>
        $"/connect/authorize?client_id=marketplace-dashboards&response_type=code&scope={Uri.EscapeDataString("openid offline_access marketplace")}" +
        $"&redirect_uri={Uri.EscapeDataString(RedirectUri)}&state=s-1&code_challenge={challenge}&code_challenge_method=S256";

    public static async Task<JsonElement> TokenResponse(HttpClient client, Dictionary<string, string> form, HttpStatusCode expected = HttpStatusCode.OK)
    {
        var response = await client.PostAsync("/connect/token", new FormUrlEncodedContent(form));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"{response.StatusCode}: {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    /// <summary>The dashboards' sign-in as a browser does it (code with PKCE); answers the token response.</summary>
    public async Task<JsonElement> Tokens(string email, string password = Password)
    {
        var verifier = Base64UrlEncoder.Encode(RandomNumberGenerator.GetBytes(32));
        var challenge = Base64UrlEncoder.Encode(SHA256.HashData(Encoding.ASCII.GetBytes(verifier)));
        using var browser = Browser();
        var signedIn = await SignIn(browser, email, password, AuthorizeUrl(challenge));
        Assert.Equal(HttpStatusCode.Redirect, signedIn.StatusCode);
        var back = await browser.GetAsync(AuthorizeUrl(challenge));
        Assert.Equal(HttpStatusCode.Redirect, back.StatusCode);
        var code = QueryHelpers.ParseQuery(back.Headers.Location!.Query)["code"].ToString();
        return await TokenResponse(browser, new Dictionary<string, string>
        {
            ["grant_type"] = "authorization_code", ["code"] = code, ["redirect_uri"] = RedirectUri, ["client_id"] = "marketplace-dashboards",
            ["code_verifier"] = verifier,
        });
    }

    /// <summary>A registered API client's credentials.</summary>
    public async Task<(string ClientId, string Secret)> ApiClient(string role, string? tenantId = null, string? providerId = null)
    {
        using var admin = web.Admin();
        var created = await admin.PostAsJsonAsync("/api/v1/clients", new { displayName = "Test client", role, tenantId, providerId });
        Assert.True(created.StatusCode == HttpStatusCode.Created, await created.Content.ReadAsStringAsync());
        var client = await created.Content.ReadFromJsonAsync<JsonElement>();
        return (client.GetProperty("clientId").GetString()!, client.GetProperty("clientSecret").GetString()!);
    }

    public static Dictionary<string, string> ClientCredentials(string clientId, string secret) => new()
    {
        ["grant_type"] = "client_credentials", ["client_id"] = clientId, ["client_secret"] = secret, ["scope"] = "marketplace",
    };

    [GeneratedRegex(@"https?://\S+/account/confirm\?\S+")]
    private static partial Regex ConfirmationUrl();

    [GeneratedRegex("name=\"__RequestVerificationToken\" value=\"([^\"]+)\"")]
    private static partial Regex AntiforgeryField();

    [GeneratedRegex("name=\"returnUrl\" value=\"([^\"]*)\"")]
    private static partial Regex ReturnUrlField();

    [GeneratedRegex("id=\"problem\"[^>]*>([^<]*)<")]
    private static partial Regex ProblemText();

    [GeneratedRegex("id=\"authenticator-key\"[^>]*>([^<]*)<")]
    private static partial Regex KeyField();
}
