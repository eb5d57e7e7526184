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
        System = await ProcessCluster.StartAsync(label: "browser");
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

    /// <summary>A fresh browser tab signed in through the login page as the role (and tenant or provider), on its page.</summary>
    public async Task<SignedInPage> SignInAsync(string role, string? id = null)
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = System.WebUrl.ToString(),
            ViewportSize = new ViewportSize { Width = 1400, Height = 900 },
            Locale = "en-US",
        });
        var page = await context.NewPageAsync();
        page.SetDefaultTimeout(Wait);
        var signed = new SignedInPage(page);
        await page.GotoAsync($"/login.html?role={role}");
        if (id is not null)
        {
            await page.FillAsync("#id", id);
        }
        await page.ClickAsync("#sign-in");
        try
        {
            // The role's page is ready when it is live: connected, with its first snapshot applied. (A wait that survives the
            // navigation from the login page, whenever it happens.)
            var home = role == Names.Roles.Sme ? "/sme.html" : role == Names.Roles.Provider ? "/provider.html" : "/regulator.html";
            await page.WaitForFunctionAsync(
                "home => location.pathname === home && window.__marketplace && window.__marketplace.connected && window.__marketplace.snapshots > 0",
                home, new PageWaitForFunctionOptions { Timeout = 2 * Wait, PollingInterval = 100 });
        }
        catch (TimeoutException e)
        {
            var state = await page.EvaluateAsync<string>(
                "() => JSON.stringify({ probe: window.__marketplace, live: document.querySelector('[data-live]')?.textContent, problem: document.getElementById('problem')?.textContent })");
            throw new TimeoutException($"signing in as {role} {id} did not reach a live page: at {page.Url}, {state}, errors: {string.Join(" | ", signed.Errors)}\n{System.Describe()}", e);
        }
        return signed;
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

    public SignedInPage(IPage page)
    {
        Page = page;
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
