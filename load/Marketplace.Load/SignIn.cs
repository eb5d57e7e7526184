using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Marketplace.Load;

/// <summary>What signing in costs, measured from outside: each part in milliseconds, and the validation of a token in microseconds.</summary>
public sealed record SignInResult(
    DateTimeOffset StartedAt,
    int Concurrency,
    Percentiles ClientCredentials,
    double ClientTokensPerSecond,
    Percentiles PasswordSignIn,
    Percentiles Authorize,
    Percentiles CodeExchange,
    Percentiles CodeFlowTotal,
    Percentiles Refresh,
    Percentiles AuthenticatedGet,
    double ValidationMicroseconds,
    double ValidationsPerSecondOneCore,
    Machine Machine)
{
    public string Markdown()
    {
        static string Row(string what, Percentiles p) => $"| {what} | {p.Count} | {p.P50} | {p.P95} | {p.P99} | {p.Max} |";
        return string.Join('\n',
            $"Sign-in ({Machine.Cores} cores, load average {Machine.LoadAverage1m} at the start): client tokens and reads {Concurrency} at a time, " +
            "one person's code flow one sign-in after another:",
            "",
            "| step | count | p50 ms | p95 | p99 | max |",
            "|---|---|---|---|---|---|",
            Row("client credentials token", ClientCredentials),
            Row("code flow: password sign-in (page + form)", PasswordSignIn),
            Row("code flow: authorize (code)", Authorize),
            Row("code flow: code for tokens", CodeExchange),
            Row("code flow: total", CodeFlowTotal),
            Row("refresh token", Refresh),
            Row("authenticated GET /api/v1/accelerators", AuthenticatedGet),
            "",
            $"Client-credentials tokens issued: {ClientTokensPerSecond} /s. Validating one access token (signature, issuer, lifetime) " +
            $"in process: {ValidationMicroseconds} µs, {ValidationsPerSecondOneCore} /s on one core.");
    }

    public async Task<string> WriteAsync(string directory)
    {
        Directory.CreateDirectory(directory);
        var name = Path.Combine(directory, $"signin-{StartedAt:yyyyMMdd-HHmmss}");
        await File.WriteAllTextAsync(name + ".json", JsonSerializer.Serialize(this, new JsonSerializerOptions(JsonSerializerDefaults.Web) { WriteIndented = true }));
        await File.WriteAllTextAsync(name + ".md", Markdown() + "\n");
        return name + ".json";
    }
}

/// <summary>
/// Signs in the ways the marketplace's users do, against a running web tier: an API client with client credentials, and a
/// person through the dashboards' code flow with PKCE (sign-in page, authorize, code for tokens, refresh). Then validates
/// the access token as the API does, in process, to give the cost every API request pays.
/// </summary>
public sealed partial class SignIn(Uri baseUrl, Automation automation, string email, string password, Action<string> log)
{
    private const string DashboardClientId = "marketplace-dashboards";

    public async Task<SignInResult> RunAsync(int count, int concurrency, CancellationToken cancel)
    {
        using var http = new HttpClient { BaseAddress = baseUrl, Timeout = TimeSpan.FromSeconds(60) };
        var discovery = JsonDocument.Parse(await http.GetStringAsync("/.well-known/openid-configuration", cancel)).RootElement;
        var issuer = discovery.GetProperty("issuer").GetString()!;
        var redirectUri = new Uri(new Uri(issuer), "signed-in.html").ToString();
        var startedAt = DateTimeOffset.UtcNow;
        var machine = Machine.Describe();

        log($"client credentials: {count} tokens, {concurrency} at a time");
        var clientTokens = new Latency();
        using (var api = new Api(baseUrl))
        {
            await api.ClientTokenAsync(automation.ClientId, automation.Secret, cancel); // waits while the web tier registers the client
        }
        await TimedAsync(5, 1, null, () => ClientTokenAsync(http, cancel), cancel); // warm-up
        var watch = Stopwatch.StartNew();
        await TimedAsync(count, concurrency, clientTokens, () => ClientTokenAsync(http, cancel), cancel);
        var perSecond = Math.Round(count / watch.Elapsed.TotalSeconds, 1);

        // One person signs in one sign-in after another: the marketplace counts each password attempt before it checks it, so
        // that parallel guesses cannot pass the lockout limit, and that counts parallel sign-ins of one account alike.
        var flows = Math.Max(1, count / 4);
        log($"code flow with PKCE as {email}: {flows} sign-ins, one after another");
        var (signIn, authorize, exchange, total, refresh) = (new Latency(), new Latency(), new Latency(), new Latency(), new Latency());
        string? accessToken = null;
        await TimedAsync(flows, 1, null, async () =>
        {
            var flow = Stopwatch.StartNew();
            var tokens = await CodeFlowAsync(redirectUri, signIn, authorize, exchange, cancel);
            total.Record(flow.Elapsed);
            accessToken = tokens.GetProperty("access_token").GetString();
            var refreshed = Stopwatch.StartNew();
            await TokenAsync(http, new Dictionary<string, string>
            {
                ["grant_type"] = "refresh_token", ["refresh_token"] = tokens.GetProperty("refresh_token").GetString()!, ["client_id"] = DashboardClientId,
            }, cancel);
            refresh.Record(refreshed.Elapsed);
        }, cancel);

        log("authenticated reads and token validation");
        var reads = new Latency();
        await TimedAsync(count, concurrency, reads, async () =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/api/v1/accelerators");
            request.Headers.Authorization = new("Bearer", accessToken);
            using var response = await http.SendAsync(request, cancel);
            await ExpectAsync(response, HttpStatusCode.OK, "an authenticated read", cancel);
        }, cancel);
        var (micros, perCore) = await ValidationAsync(http, accessToken!, issuer, cancel);

        return new SignInResult(startedAt, concurrency, clientTokens.Total(), perSecond, signIn.Total(), authorize.Total(), exchange.Total(), total.Total(),
            refresh.Total(), reads.Total(), micros, perCore, machine);
    }

    /// <summary>One client-credentials token, not retried: a refusal ends the measurement rather than hiding in its times.</summary>
    private async Task ClientTokenAsync(HttpClient http, CancellationToken cancel) =>
        await TokenAsync(http, Api.ClientCredentials(automation.ClientId, automation.Secret), cancel);

    /// <summary>One person's sign-in as the dashboards do it, each in its own browser (cookies, no redirects followed).</summary>
    private async Task<JsonElement> CodeFlowAsync(string redirectUri, Latency signIn, Latency authorize, Latency exchange, CancellationToken cancel)
    {
        using var handler = new HttpClientHandler { AllowAutoRedirect = false, UseCookies = true, CookieContainer = new CookieContainer() };
        using var browser = new HttpClient(handler) { BaseAddress = baseUrl, Timeout = TimeSpan.FromSeconds(60) };
        var verifier = Base64UrlEncoder.Encode(RandomNumberGenerator.GetBytes(32));
        var challenge = Base64UrlEncoder.Encode(SHA256.HashData(Encoding.ASCII.GetBytes(verifier)));
        var authorizeUrl = $"/connect/authorize?client_id={DashboardClientId}&response_type=code&scope={Uri.EscapeDataString($"openid offline_access {Names.Auth.ApiScope}")}" +
            $"&redirect_uri={Uri.EscapeDataString(redirectUri)}&state=load&code_challenge={challenge}&code_challenge_method=S256";

        var step = Stopwatch.StartNew();
        var page = await browser.GetStringAsync($"/account/login?ReturnUrl={Uri.EscapeDataString(authorizeUrl)}", cancel);
        using (var signedIn = await browser.PostAsync("/account/login", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["__RequestVerificationToken"] = WebUtility.HtmlDecode(AntiforgeryField().Match(page).Groups[1].Value),
            ["email"] = email, ["password"] = password, ["returnUrl"] = authorizeUrl,
        }), cancel))
        {
            await ExpectAsync(signedIn, HttpStatusCode.Redirect, $"the password sign-in of {email}", cancel);
        }
        signIn.Record(step.Elapsed);

        step.Restart();
        string code;
        using (var back = await browser.GetAsync(authorizeUrl, cancel))
        {
            await ExpectAsync(back, HttpStatusCode.Redirect, "the authorization request", cancel);
            code = CodeParameter().Match(back.Headers.Location!.Query) is { Success: true } m ? Uri.UnescapeDataString(m.Groups[1].Value)
                : throw new InvalidOperationException($"no code in {back.Headers.Location}");
        }
        authorize.Record(step.Elapsed);

        step.Restart();
        var tokens = await TokenAsync(browser, new Dictionary<string, string>
        {
            ["grant_type"] = "authorization_code", ["code"] = code, ["redirect_uri"] = redirectUri, ["client_id"] = DashboardClientId, ["code_verifier"] = verifier,
        }, cancel);
        exchange.Record(step.Elapsed);
        return tokens;
    }

    private static async Task<JsonElement> TokenAsync(HttpClient http, Dictionary<string, string> form, CancellationToken cancel)
    {
        using var response = await http.PostAsync("/connect/token", new FormUrlEncodedContent(form), cancel);
        var body = await response.Content.ReadAsStringAsync(cancel);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw new InvalidOperationException($"the token endpoint answered {(int)response.StatusCode} to {form["grant_type"]}: {body}");
        }
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    /// <summary>The access token validated as the API's JwtBearer does (signature with the published keys, issuer, lifetime), on one thread.</summary>
    private static async Task<(double Micros, double PerSecond)> ValidationAsync(HttpClient http, string token, string issuer, CancellationToken cancel)
    {
        var keys = new JsonWebKeySet(await http.GetStringAsync("/.well-known/jwks", cancel)).GetSigningKeys();
        var parameters = new TokenValidationParameters
        {
            ValidIssuer = issuer, IssuerSigningKeys = keys, ValidateAudience = false, ValidateLifetime = true,
        };
        var handler = new JsonWebTokenHandler();
        for (var i = 0; i < 200; i++)
        {
            await Valid(handler, token, parameters);
        }
        const int n = 5_000;
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < n; i++)
        {
            await Valid(handler, token, parameters);
        }
        var seconds = watch.Elapsed.TotalSeconds;
        return (Math.Round(seconds * 1_000_000 / n, 1), Math.Round(n / seconds, 0));
    }

    private static async Task Valid(JsonWebTokenHandler handler, string token, TokenValidationParameters parameters)
    {
        var result = await handler.ValidateTokenAsync(token, parameters);
        if (!result.IsValid)
        {
            throw new InvalidOperationException($"the access token did not validate: {result.Exception?.Message}");
        }
    }

    /// <summary>Runs <paramref name="count"/> calls, <paramref name="concurrency"/> at a time, recording each one's time (unless no latency is given).</summary>
    private static async Task TimedAsync(int count, int concurrency, Latency? latency, Func<Task> call, CancellationToken cancel)
    {
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
        {
            while (Interlocked.Increment(ref next) < count)
            {
                cancel.ThrowIfCancellationRequested();
                var watch = Stopwatch.StartNew();
                await call();
                latency?.Record(watch.Elapsed);
            }
        }));
    }

    private static async Task ExpectAsync(HttpResponseMessage response, HttpStatusCode status, string what, CancellationToken cancel)
    {
        if (response.StatusCode != status)
        {
            var body = await response.Content.ReadAsStringAsync(cancel);
            throw new InvalidOperationException($"{what} answered {(int)response.StatusCode}, not {(int)status}: {body[..Math.Min(body.Length, 2_000)]}");
        }
    }

    [GeneratedRegex("name=\"__RequestVerificationToken\" value=\"([^\"]+)\"")]
    private static partial Regex AntiforgeryField();

    [GeneratedRegex("[?&]code=([^&]+)")]
    private static partial Regex CodeParameter();
}
