using System.Globalization;
using System.Text.Json;
using Marketplace.Testing;
using Xunit;

namespace Marketplace.Browser.Tests;

/// <summary>
/// The SME's start picker is in Beijing time whatever the browser's own time zone: a reader in New York (thirteen hours
/// behind Beijing in winter, twelve in summer) sees the next whole hour of Beijing, and the start picked reaches the API
/// as that Beijing instant.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class BeijingTimeZoneTests(BrowserFixture fixture)
{
    private const string BrowserTimeZone = "America/New_York";
    private static readonly TimeSpan Beijing = TimeSpan.FromHours(8);

    /// <summary>Guizhou's Gui'an site is the seeded market's only pool of this model (DemoMarket.Sites).</summary>
    private const string Model = "H20-96G";

    [Fact]
    public async Task The_start_picker_shows_and_takes_beijing_time_in_a_browser_set_to_new_york()
    {
        var (tenantId, client, _) = await fixture.Market.TenantAsync("Beijing", DemoMarket.BeijingProgram);
        using var _ = client;
        var before = DateTimeOffset.UtcNow;
        await using var tab = await fixture.SignInAsync(Names.Roles.Sme, tenantId, language: "zh", timezoneId: BrowserTimeZone);
        var after = DateTimeOffset.UtcNow;
        var page = tab.Page;
        Assert.Equal(BrowserTimeZone, await page.EvaluateAsync<string>("() => Intl.DateTimeFormat().resolvedOptions().timeZone"));
        // The browser's own clock reads the next hour twelve or thirteen hours earlier than Beijing's: a page that used it would show that.
        Assert.NotEqual(Field(NextHour(after)), await page.EvaluateAsync<string>(
            "iso => { const d = new Date(iso); const p = n => String(n).padStart(2, '0'); return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`; }",
            NextHour(after).ToString("o", CultureInfo.InvariantCulture)));

        // The start defaults to the next whole hour in Beijing time.
        var start = page.Locator("#bid-start");
        Assert.Contains(await start.InputValueAsync(), new[] { Field(NextHour(before)), Field(NextHour(after)) });
        Assert.Equal("预订从整点开始（北京时间）", await page.TextContentAsync("#start-note"));

        // A start picked in Beijing time is sent as that instant with Beijing's offset, and the quote shows it in Beijing time.
        var known = NextHour(after).AddHours(30);
        await start.FillAsync(Field(known));
        await page.SelectOptionAsync("#models", Model);
        await page.FillAsync("#bid [name=gpuCount]", "1");
        await page.FillAsync("#bid [name=durationHours]", "2");
        await page.FillAsync("#bid [name=window]", "0");
        var request = await page.RunAndWaitForRequestAsync(() => page.ClickAsync("#quote"),
            r => r.Method == "POST" && new Uri(r.Url).AbsolutePath == "/api/v1/quotes");
        var sent = request.PostDataJSON()!.Value;
        var expected = known.ToOffset(Beijing).ToString("yyyy-MM-dd'T'HH:mm:ss'+08:00'", CultureInfo.InvariantCulture);
        Assert.Equal(expected, sent.GetProperty("earliestStart").GetString());
        Assert.Equal(expected, sent.GetProperty("latestStart").GetString());
        var quote = JsonDocument.Parse(await (await request.ResponseAsync())!.TextAsync()).RootElement;
        Assert.True(quote.GetProperty("available").GetBoolean(), quote.ToString());
        Assert.Equal(known, quote.GetProperty("startsAt").GetDateTimeOffset());
        var result = page.Locator("#quote-result:not([hidden])");
        await result.WaitForAsync();
        Assert.Contains($"{known.ToOffset(Beijing).ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture)} 北京时间", await result.TextContentAsync());
        Assert.Empty(tab.Errors);
    }

    private static DateTimeOffset NextHour(DateTimeOffset time) =>
        new DateTimeOffset(time.UtcTicks - time.UtcTicks % TimeSpan.TicksPerHour, TimeSpan.Zero).AddHours(1);

    /// <summary>A time as the start field shows it: Beijing time, "2026-01-01T08:00".</summary>
    private static string Field(DateTimeOffset time) => time.ToOffset(Beijing).ToString("yyyy-MM-dd'T'HH:mm", CultureInfo.InvariantCulture);
}
