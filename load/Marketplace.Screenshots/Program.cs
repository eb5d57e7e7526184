using Microsoft.Playwright;

// Takes the README's screenshots from a running marketplace with its demo activity (load/screenshots.sh starts one):
// every page in Chinese, each signed in as the demo user of its role through the real sign-in page, once the demo has
// made the map show where work goes.
//   Marketplace.Screenshots --url URL --out DIR --password PASSWORD [--chromium PATH] [--busy-provinces N]

var options = Args(args);
var url = options.GetValueOrDefault("url") ?? throw Usage("--url is required");
var output = Directory.CreateDirectory(options.GetValueOrDefault("out") ?? throw Usage("--out is required")).FullName;
var password = options.GetValueOrDefault("password") ?? throw Usage("--password is required");
var chromium = options.GetValueOrDefault("chromium") ?? "/usr/bin/chromium";
var busyProvinces = int.Parse(options.GetValueOrDefault("busy-provinces") ?? "2", System.Globalization.CultureInfo.InvariantCulture);

// Each page, who opens it, and what shows that it has drawn what it reads. The browser asks for reduced motion, so the
// pages' charts do not animate: a chart is drawn by the time the page marks its data, and nothing waits a while.
(string Name, string Email, string Path, string Ready)[] pages =
[
    ("regulator", "regulator@demo.local", "/regulator.html",
        $"() => (window.__marketplace?.map?.provinces ?? []).filter(p => p.utilization > 0).length >= {busyProvinces} && document.getElementById('series').dataset.historyDrawn > 0"),
    ("console", "admin@demo.local", "/console.html", "() => document.getElementById('takeup').dataset.historyDrawn > 0"),
    ("companies", "regulator@demo.local", "/companies.html", "() => document.getElementById('queue').hasAttribute('data-loaded')"),
    ("sme", "sme@demo.local", "/sme.html", "() => document.querySelectorAll('#reservations tbody tr[data-reservation]').length > 0"),
    ("provider", "provider@demo.local", "/provider.html", "() => document.getElementById('series').dataset.historyDrawn > 0"),
];

using var playwright = await Playwright.CreateAsync();
await using var browser = await playwright.Chromium.LaunchAsync(new() { ExecutablePath = chromium, Headless = true, Args = ["--no-sandbox", "--disable-gpu", "--lang=zh-CN"] });
var viewport = new ViewportSize { Width = 1400, Height = 900 };
BrowserNewContextOptions Context() => new() { BaseURL = url, ViewportSize = viewport, Locale = "zh-CN", ReducedMotion = ReducedMotion.Reduce };

// The pages before signing in: the home page and the provider's sign-in page.
await using (var context = await browser.NewContextAsync(Context()))
{
    var page = await context.NewPageAsync();
    await page.GotoAsync("/index.html");
    await SaveAsync(page, "home");
    await page.GotoAsync("/login.html");
    await page.ClickAsync("#account-sign-in");
    await page.WaitForURLAsync("**/account/login?**");
    await SaveAsync(page, "sign-in");
}

foreach (var (name, email, path, ready) in pages)
{
    await using var context = await browser.NewContextAsync(Context());
    var page = await context.NewPageAsync();
    await page.GotoAsync("/login.html");
    await page.ClickAsync("#account-sign-in");
    await page.WaitForURLAsync("**/account/login?**");
    await page.FillAsync("#email", email);
    await page.FillAsync("#password", password);
    await page.ClickAsync("#sign-in");
    await page.WaitForFunctionAsync("() => window.__marketplace && window.__marketplace.connected", null, new() { Timeout = 60_000 });
    if (new Uri(page.Url).AbsolutePath != path)
    {
        await page.GotoAsync(path);
    }
    // The demo must be busy enough for the page to show something: up to five minutes, then the page as it is. A page
    // that reads some of its figures only when it opens (the take-up chart) is reloaded every half minute meanwhile.
    var isReady = false;
    for (var round = 0; round < 10 && !isReady; round++)
    {
        if (round > 0)
        {
            await page.ReloadAsync();
        }
        try
        {
            await page.WaitForFunctionAsync(ready, null, new() { Timeout = 30_000, PollingInterval = 1_000 });
            isReady = true;
        }
        catch (TimeoutException)
        {
        }
    }
    if (!isReady)
    {
        Console.Error.WriteLine($"{name}: not ready after five minutes ({ready}); taken as it is");
    }
    await SaveAsync(page, name);
}
return 0;

async Task SaveAsync(IPage page, string name)
{
    var file = Path.Combine(output, $"{name}.png");
    await page.ScreenshotAsync(new() { Path = file, FullPage = true });
    Console.WriteLine($"{name}: {file}");
}

static Dictionary<string, string> Args(string[] args)
{
    var options = new Dictionary<string, string>(StringComparer.Ordinal);
    for (var i = 0; i < args.Length; i += 2)
    {
        if (!args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Length)
        {
            throw Usage($"unexpected '{args[i]}'");
        }
        options[args[i][2..]] = args[i + 1];
    }
    return options;
}

static ArgumentException Usage(string problem) =>
    new($"{problem}\nusage: Marketplace.Screenshots --url URL --out DIR --password PASSWORD [--chromium PATH] [--busy-provinces N]");
