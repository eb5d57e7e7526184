using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Marketplace.Testing;
using Microsoft.Playwright;
using Xunit;

namespace Marketplace.Browser.Tests;

/// <summary>
/// The real system (silo and web processes against the test database) with a seeded market, and the system's Chromium
/// driven by Playwright. Browsers are never downloaded: the tests use /usr/bin/chromium.
/// </summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    public const string Chromium = "/usr/bin/chromium";

    /// <summary>Generous: the machine is shared and small, and a wait ends as soon as its condition holds.</summary>
    public const float Wait = 30_000;

    private IPlaywright _playwright = null!;

    public ProcessCluster System { get; private set; } = null!;
    public IBrowser Browser { get; private set; } = null!;
    public DemoMarket Market { get; private set; } = null!;

    /// <summary>Screenshots and measurements go here, beside the test binaries.</summary>
    public static string OutputDirectory { get; } = Directory.CreateDirectory(Path.Combine(AppContext.BaseDirectory, "browser-output")).FullName;

    public async Task InitializeAsync()
    {
        // History is rolled up every second rather than every minute, so a chart has its past soon after the fills.
        System = await ProcessCluster.StartAsync(label: "browser", webSettings: new Dictionary<string, string?> { ["History__RollupInterval"] = "00:00:01" });
        Market = new DemoMarket(System);
        await Market.SeedAsync();
        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu"],
        });
    }

    /// <summary>Where the pages keep the reader's choice of language (i18n.js).</summary>
    public const string LanguageKey = "marketplace.lang";

    /// <summary>The password of every account the browser tests make.</summary>
    public const string Password = "browser-test-password";

    /// <summary>
    /// A new account of the role acting for the tenant or provider <paramref name="id"/>, made as the product makes one:
    /// an admin's <c>POST /api/v1/accounts</c> (only an admin may put an account into an existing organisation).
    /// </summary>
    public async Task<string> AccountAsync(string role, string? id = null)
    {
        var email = $"{Scenario.Unique(role)}@example.cn";
        using var admin = await System.ClientAsync(Names.Roles.Admin);
        await DemoMarket.Ok(admin.PostAsJsonAsync("/api/v1/accounts", new
        {
            email, password = Password, role,
            tenantId = role == Names.Roles.Sme ? id : null,
            providerId = role == Names.Roles.Provider ? id : null,
        }));
        return email;
    }

    /// <summary>
    /// Registers a new SME account as anyone does, without an admin: its address is unconfirmed until the link mailed to it
    /// is opened (<see cref="ConfirmationLinkAsync"/>).
    /// </summary>
    public async Task<string> RegisterAsync(string password = Password)
    {
        var email = $"{Scenario.Unique("browser")}@example.cn";
        using var anonymous = new HttpClient { BaseAddress = System.WebUrl };
        var created = await anonymous.PostAsJsonAsync("/api/v1/accounts", new { email, password, role = Names.Roles.Sme });
        Assert.True(created.IsSuccessStatusCode, await created.Content.ReadAsStringAsync());
        return email;
    }

    /// <summary>Registers a new SME account and confirms its address through the mailed link, as its owner would.</summary>
    public async Task<string> RegisterConfirmedAsync(string password = Password)
    {
        var email = await RegisterAsync(password);
        using var anonymous = new HttpClient { BaseAddress = System.WebUrl };
        var confirmed = await anonymous.GetAsync(await ConfirmationLinkAsync(email));
        Assert.True(confirmed.IsSuccessStatusCode, await confirmed.Content.ReadAsStringAsync());
        return email;
    }

    /// <summary>
    /// The confirmation link last mailed to <paramref name="email"/>, as a path on the site. The web process writes its
    /// mail to its log (JSON lines), which may reach the output after the request that sent it has been answered: the
    /// output is read until the line is there, for at most <see cref="Wait"/>.
    /// </summary>
    public async Task<string> ConfirmationLinkAsync(string email)
    {
        var until = DateTimeOffset.UtcNow + TimeSpan.FromMilliseconds(Wait);
        while (true)
        {
            foreach (var line in System.Web!.Output.Reverse())
            {
                if (MailLink(line, email) is { } link)
                {
                    return link;
                }
            }
            if (DateTimeOffset.UtcNow > until)
            {
                throw new TimeoutException($"no confirmation mail to {email} in the web tier's log");
            }
            await Task.Delay(100);
        }
    }

    private static string? MailLink(string line, string email)
    {
        if (!line.StartsWith('{') || !line.Contains("Marketplace.Web.Accounts.AccountMail", StringComparison.Ordinal))
        {
            return null;
        }
        using var entry = JsonDocument.Parse(line);
        var root = entry.RootElement;
        if (!root.TryGetProperty("State", out var state) || !state.TryGetProperty("To", out var to) || to.GetString() != email)
        {
            return null;
        }
        var link = Regex.Match(root.GetProperty("Message").GetString() ?? "", @"https?://\S+/account/confirm\?\S+");
        return link.Success ? new Uri(link.Value).PathAndQuery : null;
    }

    /// <summary>
    /// A fresh browser context on the system's address. The pages open in Chinese, as for a first visit, unless
    /// <paramref name="language"/> names the language the reader chose ("en" or "zh"); a context that bypasses the
    /// pages' Content-Security-Policy can have scripts added to them (an accessibility checker). The browser keeps the
    /// machine's time zone unless <paramref name="timezoneId"/> names another ("America/New_York"), and asks for reduced
    /// motion when <paramref name="reducedMotion"/> (as the screenshot tool does).
    /// </summary>
    public async Task<IPage> NewPageAsync(string? language = null, bool bypassCsp = false, string? timezoneId = null, bool reducedMotion = false)
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = System.WebUrl.ToString(),
            ViewportSize = new ViewportSize { Width = 1400, Height = 900 },
            Locale = "en-US",
            BypassCSP = bypassCsp,
            TimezoneId = timezoneId,
            ReducedMotion = reducedMotion ? ReducedMotion.Reduce : ReducedMotion.NoPreference,
        });
        if (language is not null)
        {
            await context.AddInitScriptAsync($"localStorage.setItem('{LanguageKey}', '{language}')");
        }
        var page = await context.NewPageAsync();
        page.SetDefaultTimeout(Wait);
        return page;
    }

    /// <summary>The page of a role's console once signed in.</summary>
    public static string HomeOf(string role) => role == Names.Roles.Sme ? "/sme.html" : role == Names.Roles.Provider ? "/provider.html" : "/regulator.html";

    /// <summary>
    /// A fresh browser tab signed in as a new account of the role (and tenant or provider), the way a person signs in: the
    /// login page, the provider's sign-in page (code flow with PKCE), back to the role's console, live.
    /// </summary>
    public async Task<SignedInPage> SignInAsync(string role, string? id = null, string? language = null, bool bypassCsp = false, string? timezoneId = null,
        bool reducedMotion = false) =>
        await SignInAsAsync(role, await AccountAsync(role, id), language, bypassCsp, timezoneId, reducedMotion);

    /// <summary>A fresh browser tab signed in as the account with <paramref name="email"/>, on its role's console.</summary>
    public async Task<SignedInPage> SignInAsAsync(string role, string email, string? language = null, bool bypassCsp = false, string? timezoneId = null,
        bool reducedMotion = false)
    {
        var page = await NewPageAsync(language, bypassCsp, timezoneId, reducedMotion);
        var signed = new SignedInPage(page);
        await page.GotoAsync("/login.html");
        await page.ClickAsync("#account-sign-in");
        // As long as the wait for a live page: the first sign-in of a run meets the provider's pages cold, on a busy machine.
        try
        {
            await page.WaitForURLAsync("**/account/login?**", new() { Timeout = 2 * Wait });
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"signing in as {role} {email}: the sign-in page did not open; at {page.Url}, errors: {string.Join(" | ", signed.Errors)}\n{System.Describe()}", e);
        }
        await page.FillAsync("#email", email);
        await page.FillAsync("#password", Password);
        await page.ClickAsync("#sign-in");
        await WaitUntilLiveAsync(signed, HomeOf(role), $"signing in as {role} {email}");
        return signed;
    }

    /// <summary>Waits until the tab is on <paramref name="home"/> and live: connected, with its first snapshot applied.</summary>
    public async Task WaitUntilLiveAsync(SignedInPage signed, string home, string doing)
    {
        var page = signed.Page;
        try
        {
            // A wait that survives the navigations of the sign-in, whenever they happen.
            await page.WaitForFunctionAsync(
                "home => location.pathname === home && window.__marketplace && window.__marketplace.connected && window.__marketplace.snapshots > 0",
                home, new PageWaitForFunctionOptions { Timeout = 2 * Wait, PollingInterval = 100 });
        }
        catch (TimeoutException e)
        {
            var state = await page.EvaluateAsync<string>(
                "() => JSON.stringify({ probe: window.__marketplace, live: document.querySelector('[data-live]')?.textContent, problem: document.getElementById('problem')?.textContent })");
            throw new TimeoutException($"{doing} did not reach a live page: at {page.Url}, {state}, errors: {string.Join(" | ", signed.Errors)}\n{System.Describe()}", e);
        }
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.DisposeAsync();
        }
        _playwright?.Dispose();
        if (System is not null)
        {
            await System.DisposeAsync();
        }
    }
}

/// <summary>A signed-in tab that records what the browser reports as errors (a CSP violation is one).</summary>
public sealed class SignedInPage : IAsyncDisposable
{
    private readonly List<string> _errors = [];
    private readonly List<(string Url, string? Body)> _connect = [];
    private readonly List<string> _refused = [];

    public SignedInPage(IPage page)
    {
        Page = page;
        page.Request += (_, request) =>
        {
            if (new Uri(request.Url).AbsolutePath.StartsWith("/connect/", StringComparison.Ordinal))
            {
                lock (_connect)
                {
                    _connect.Add((request.Url, request.PostData));
                }
            }
        };
        page.Response += (_, response) =>
        {
            if (response.Status == 401)
            {
                lock (_refused)
                {
                    _refused.Add($"{response.Request.Method} {response.Url}");
                }
            }
        };
        page.Console += (_, message) =>
        {
            if (message.Type == "error")
            {
                lock (_errors)
                {
                    _errors.Add(message.Text);
                }
            }
        };
        page.PageError += (_, error) =>
        {
            lock (_errors)
            {
                _errors.Add(error);
            }
        };
    }

    public IPage Page { get; }

    public IReadOnlyList<string> Errors
    {
        get
        {
            lock (_errors)
            {
                return [.. _errors];
            }
        }
    }

    /// <summary>Every request the tab sent to the OpenID Connect endpoints (/connect/...), with its form body.</summary>
    public IReadOnlyList<(string Url, string? Body)> ConnectRequests
    {
        get
        {
            lock (_connect)
            {
                return [.. _connect];
            }
        }
    }

    /// <summary>Every answer the tab got with 401 Unauthorized.</summary>
    public IReadOnlyList<string> Refused
    {
        get
        {
            lock (_refused)
            {
                return [.. _refused];
            }
        }
    }

    public async Task<string> ScreenshotAsync(string name)
    {
        var path = Path.Combine(BrowserFixture.OutputDirectory, $"{name}.png");
        await Page.ScreenshotAsync(new PageScreenshotOptions { Path = path, FullPage = true });
        return path;
    }

    public async ValueTask DisposeAsync() => await Page.Context.CloseAsync();
}

[CollectionDefinition(Name)]
public sealed class BrowserCollection : ICollectionFixture<BrowserFixture>
{
    public const string Name = "browser";
}
