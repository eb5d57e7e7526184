using System.Text.Json;
using Marketplace.Testing;
using Microsoft.Playwright;
using Xunit;

namespace Marketplace.Browser.Tests;

/// <summary>
/// The consoles in the reader's language: Simplified Chinese first, English as a remembered switch; times in Beijing time;
/// amounts in 元 and 万元; no serious accessibility fault at desktop or phone width; one bid for a double click.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class LanguageTests(BrowserFixture fixture)
{
    /// <summary>Each console page, the role that opens it and one heading of it in Chinese and in English.</summary>
    public static TheoryData<string, string, string, string> Consoles() => new()
    {
        { "sme", "#bid-title", "竞价购买 GPU 算力", "Bid for GPU time" },
        { "provider", "#pools-title", "资源池", "Pools" },
        { "regulator", "#ticker-title", "实时成交", "Live fills" },
        { "companies", "#queue-title", "待审核的登记与变更", "Registrations and changes awaiting review" },
        { "console", "#takeup-title", "算力券发放与使用走势", "Take-up and burn over time" },
    };

    [Theory]
    [MemberData(nameof(Consoles))]
    public async Task A_console_opens_in_chinese_and_the_switch_turns_it_to_english_which_a_reload_keeps(string console, string heading, string chinese, string english)
    {
        await using var tab = await OpenAsync(console);
        var page = tab.Page;
        await Expect(page.Locator(heading)).ToHaveTextAsync(chinese);
        Assert.Equal("zh-CN", await page.GetAttributeAsync("html", "lang"));
        var toggle = page.Locator("header [data-lang-switch]");
        await Expect(toggle).ToHaveTextAsync("English");

        await toggle.ClickAsync();
        await Expect(page.Locator(heading)).ToHaveTextAsync(english);
        await Expect(page.Locator("html")).ToHaveAttributeAsync("lang", "en");
        await Expect(toggle).ToHaveTextAsync("中文");

        await page.ReloadAsync();
        await Expect(page.Locator(heading)).ToHaveTextAsync(english);
        await Expect(toggle).ToHaveTextAsync("中文");
        Assert.Equal("en", await page.EvaluateAsync<string>("key => localStorage.getItem(key)", BrowserFixture.LanguageKey));
        Assert.Empty(tab.Errors);
    }

    [Fact]
    public async Task Times_are_shown_in_beijing_time_labelled_and_large_amounts_in_ten_thousands_of_yuan_in_chinese()
    {
        var page = await fixture.NewPageAsync();
        try
        {
            await page.GotoAsync("/login.html");
            const string Format = "async () => { const f = await import('/js/format.js'); return [f.when('2026-01-01T00:00:00Z'), f.cny(1234567800), f.cny(123456)]; }";
            Assert.Equal(["2026-01-01 08:00 北京时间", "1,234.57 万元", "1,234.56 元"], await page.EvaluateAsync<string[]>(Format));

            await page.ClickAsync("header [data-lang-switch]");
            await Expect(page.Locator("html")).ToHaveAttributeAsync("lang", "en");
            Assert.Equal(["2026-01-01 08:00 Beijing time", "¥12,345,678.00", "¥1,234.56"], await page.EvaluateAsync<string[]>(Format));
        }
        finally
        {
            await page.Context.CloseAsync();
        }
    }

    [Fact]
    public async Task A_problem_reads_in_the_language_of_the_page_by_its_code_and_falls_back_to_its_title()
    {
        var page = await fixture.NewPageAsync();
        try
        {
            await page.GotoAsync("/login.html");
            const string Problems = "async () => { const i = await import('/js/i18n.js'); return ["
                + "i.problemText({ code: 'credit-code-taken', title: 'Conflict with the current state' }),"
                + "i.problemText({ code: 'no-such-code', title: 'Something else' })]; }";
            Assert.Equal(["该统一社会信用代码已被注册。", "Something else"], await page.EvaluateAsync<string[]>(Problems));

            await page.ClickAsync("header [data-lang-switch]");
            await Expect(page.Locator("html")).ToHaveAttributeAsync("lang", "en");
            Assert.Equal(["Conflict with the current state", "Something else"], await page.EvaluateAsync<string[]>(Problems));
        }
        finally
        {
            await page.Context.CloseAsync();
        }
    }

    [Theory]
    [InlineData("sme", 1400)]
    [InlineData("sme", 375)]
    [InlineData("provider", 1400)]
    [InlineData("provider", 375)]
    [InlineData("regulator", 1400)]
    [InlineData("regulator", 375)]
    [InlineData("companies", 1400)]
    [InlineData("companies", 375)]
    [InlineData("console", 1400)]
    [InlineData("console", 375)]
    public async Task Axe_finds_no_serious_or_critical_violation_on_a_console_in_chinese(string console, int width)
    {
        await using var tab = await OpenAsync(console, bypassCsp: true);
        var page = tab.Page;
        await page.SetViewportSizeAsync(width, 900);
        Assert.Equal("zh-CN", await page.GetAttributeAsync("html", "lang"));
        await page.AddScriptTagAsync(new() { Content = await File.ReadAllTextAsync(AxePath) });
        var found = await page.EvaluateAsync<JsonElement>(
            "async () => (await axe.run(document)).violations.filter(v => v.impact === 'serious' || v.impact === 'critical')"
            + ".map(v => `${v.id} (${v.impact}): ${v.nodes.map(n => n.target.join(' ')).join(', ')}`)");
        Assert.Equal("", string.Join("\n", found.EnumerateArray().Select(v => v.GetString())));
        if (width < 400)
        {
            // One column: nothing wider than the screen but the tables, which scroll inside their cards.
            Assert.True(await page.EvaluateAsync<bool>("() => document.documentElement.scrollWidth <= window.innerWidth"));
        }
    }

    [Fact]
    public async Task A_double_click_on_place_bid_makes_one_bid()
    {
        var (tenantId, client, voucherId) = await fixture.Market.TenantAsync("Beijing", DemoMarket.BeijingProgram);
        client.Dispose();
        await using var tab = await fixture.SignInAsync(Names.Roles.Sme, tenantId);
        var page = tab.Page;
        await page.Locator($"#vouchers tr[data-voucher='{voucherId}'][data-state='Active']").WaitForAsync();
        var posted = new List<string?>();
        page.Request += (_, request) =>
        {
            if (request.Method == "POST" && new Uri(request.Url).AbsolutePath == "/api/v1/bids")
            {
                lock (posted)
                {
                    posted.Add(request.Headers.GetValueOrDefault("idempotency-key"));
                }
            }
        };

        await page.DblClickAsync("#place");
        await page.Locator("#bids tbody tr[data-bid]").WaitForAsync();
        await Expect(page.Locator("#place")).ToBeEnabledAsync();

        Assert.Equal(1, await page.Locator("#bids tbody tr[data-bid]").CountAsync());
        lock (posted)
        {
            Assert.Single(posted);
            Assert.False(string.IsNullOrEmpty(posted[0]));
        }
        Assert.Empty(tab.Errors);
    }

    /// <summary>A signed-in tab on the console, in the language it opens in (Chinese), with its data shown.</summary>
    private async Task<SignedInPage> OpenAsync(string console, bool bypassCsp = false)
    {
        switch (console)
        {
            case "sme":
            {
                var (tenantId, client, voucherId) = await fixture.Market.TenantAsync("Beijing", DemoMarket.BeijingProgram);
                client.Dispose();
                var tab = await fixture.SignInAsync(Names.Roles.Sme, tenantId, bypassCsp: bypassCsp);
                await tab.Page.Locator($"#vouchers tr[data-voucher='{voucherId}'][data-state='Active']").WaitForAsync();
                return tab;
            }
            case "provider":
            {
                var tab = await fixture.SignInAsync(Names.Roles.Provider, fixture.Market.ProviderIds[0], bypassCsp: bypassCsp);
                await tab.Page.Locator("#pools tbody tr[data-pool]").First.WaitForAsync();
                return tab;
            }
            case "regulator":
            {
                var tab = await fixture.SignInAsync(Names.Roles.Regulator, bypassCsp: bypassCsp);
                await tab.Page.Locator($"#takeup tr[data-program='{DemoMarket.BeijingProgram}']").WaitForAsync();
                return tab;
            }
            case "console":
            {
                var tab = await fixture.SignInAsync(Names.Roles.Regulator, bypassCsp: bypassCsp);
                await tab.Page.GotoAsync("/console.html");
                await tab.Page.Locator($"#programmes tr[data-id='{DemoMarket.BeijingProgram}']").WaitForAsync();
                await tab.Page.Locator("#takeup[data-history-range]").WaitForAsync(new() { State = WaitForSelectorState.Attached });
                return tab;
            }
            default:
            {
                var tab = await fixture.SignInAsync(Names.Roles.Regulator, bypassCsp: bypassCsp);
                await tab.Page.GotoAsync("/companies.html");
                await tab.Page.Locator("#queue[data-loaded]").WaitForAsync(new() { State = WaitForSelectorState.Attached });
                return tab;
            }
        }
    }

    /// <summary>axe-core as npm installs it beside the dashboards (a devDependency of web/Marketplace.Web).</summary>
    private static string AxePath
    {
        get
        {
            var directory = new DirectoryInfo(AppContext.BaseDirectory);
            while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Marketplace.sln")))
            {
                directory = directory.Parent;
            }
            Assert.NotNull(directory);
            return Path.Combine(directory.FullName, "web", "Marketplace.Web", "node_modules", "axe-core", "axe.min.js");
        }
    }

    private static ILocatorAssertions Expect(ILocator locator)
    {
        Assertions.SetDefaultExpectTimeout(BrowserFixture.Wait);
        return Assertions.Expect(locator);
    }
}
