using System.Net.Http.Json;
using System.Text.Json;
using Marketplace.Testing;
using Xunit;

namespace Marketplace.Browser.Tests;

/// <summary>The three dashboards in a real browser against the real system: what each shows, and that it changes live.</summary>
[Collection(BrowserCollection.Name)]
public sealed class DashboardTests(BrowserFixture fixture)
{
    [Fact]
    public async Task The_regulator_map_shows_every_province_and_site_with_capacity_and_fills_arrive_on_the_ticker()
    {
        await using var tab = await fixture.SignInAsync(Names.Roles.Regulator, language: "en");
        var page = tab.Page;
        await page.WaitForFunctionAsync("n => (window.__marketplace.map?.sites.length ?? 0) >= n", DemoMarket.Sites.Length);

        var map = await page.EvaluateAsync<JsonElement>("() => window.__marketplace.map");
        var provinces = map.GetProperty("provinces").EnumerateArray().ToDictionary(p => p.GetProperty("province").GetString()!, p => p.GetProperty("name").GetString()!);
        Assert.Superset(DemoMarket.Sites.Select(s => s.Province).ToHashSet(), provinces.Keys.ToHashSet());
        Assert.Equal("甘肃", provinces["Gansu"]);
        Assert.Equal("内蒙古", provinces["Inner Mongolia"]);
        var siteNames = map.GetProperty("sites").EnumerateArray().Select(s => s.GetProperty("name").GetString()!).ToList();
        Assert.All(DemoMarket.Sites, s => Assert.Contains(siteNames, name => name.StartsWith($"{s.City} DC 1 ", StringComparison.Ordinal)));
        Assert.Equal(provinces.Count.ToString(global::System.Globalization.CultureInfo.InvariantCulture), await page.GetAttributeAsync("#map", "data-provinces"));
        Assert.True(await page.Locator("#map canvas").CountAsync() >= 1);
        // The map's labels are Chinese: the font that draws them is on the machine.
        Assert.True(await page.EvaluateAsync<bool>("() => document.fonts.check(\"12px 'WenQuanYi Micro Hei'\", '甘肃内蒙古')"));

        foreach (var province in DemoMarket.ThinProvinces)
        {
            await page.Locator($"#thin tr[data-province='{province}']").WaitForAsync();
        }
        await page.Locator($"#takeup tr[data-program='{DemoMarket.BeijingProgram}']").WaitForAsync();
        await page.Locator($"#takeup tr[data-program='{DemoMarket.ShanghaiProgram}']").WaitForAsync();
        // Beside take-up, each programme's budget forecast (its dates and amounts are checked by ProgramForecastApiTests).
        await page.Locator($"#forecast tr[data-program='{DemoMarket.BeijingProgram}']").WaitForAsync();

        var (_, client, voucherId) = await fixture.Market.TenantAsync("Shanghai", DemoMarket.ShanghaiProgram);
        using (client)
        {
            var bid = await DemoMarket.Ok(client.PostAsJsonAsync("/api/v1/bids", DemoMarket.Bid("H800-80G", gpus: 24, hours: 8, startInHours: 5, voucherId)));
            var reservationId = FirstFill(bid);
            await page.Locator($"#ticker li[data-reservation='{reservationId}']").WaitForAsync();
        }

        await tab.ScreenshotAsync("regulator");
        Assert.Empty(tab.Errors);
    }

    [Fact]
    public async Task The_regulator_map_reads_capacity_in_PFLOPS_from_the_catalogue_and_remembers_the_choice()
    {
        // Only this test lists in Tibet: 16 H800 at the catalogue's 989 dense BF16 TFLOPS are 15.824 PFLOPS; the 8 Ascend
        // 910B have no published figure and count in GPUs only.
        await fixture.Market.ProviderAsync(new DemoSite("Tibet", "Lhasa", 29.65, 91.13, "H800-80G", 16, 1_500));
        await fixture.Market.ProviderAsync(new DemoSite("Tibet", "Nyingchi", 29.65, 94.36, "Ascend910B-64G", 8, 900));
        await using var tab = await fixture.SignInAsync(Names.Roles.Regulator);
        var page = tab.Page;
        await page.WaitForFunctionAsync("() => window.__marketplace.map?.provinces.some(p => p.province === 'Tibet' && p.gpus === 24)");
        Assert.Equal("上架 GPU", await page.TextContentAsync("#gpus-label"));

        await page.ClickAsync("#unit-switch");
        await page.WaitForFunctionAsync("() => window.__marketplace.map.provinces.some(p => p.province === 'Tibet' && p.pflops === 15.824)");
        Assert.Equal(("按 GPU", "上架算力（PFLOPS）"), (await page.TextContentAsync("#unit-switch"), await page.TextContentAsync("#gpus-label")));
        Assert.Contains("未公布算力的型号不计入", await page.TextContentAsync("#unit-note"));
        Assert.Contains("未公布算力的型号不计入", await page.EvaluateAsync<string>(
            "() => echarts.getInstanceByDom(document.getElementById('map')).getOption().title[0].text"));
        // The utilization history and take-up follow the switch: the chart's share is of compute, and says what it leaves out;
        // take-up reads the compute the vouchers funded.
        await page.Locator("#series[data-unit='pflops']").WaitForAsync();
        Assert.Equal("按算力（PFLOPS）计；未公布算力的型号不计入", await page.EvaluateAsync<string>(
            "() => echarts.getInstanceByDom(document.getElementById('series')).getOption().title[0].text"));
        Assert.Equal("资助算力（PFLOPS·时）", await page.TextContentAsync("#funded-label"));

        // Remembered like the language: a reload reads PFLOPS again.
        await page.ReloadAsync();
        await page.Locator("#gpus-label:has-text('上架算力（PFLOPS）')").WaitForAsync();
        await page.Locator("#series[data-unit='pflops']").WaitForAsync();
        await page.WaitForFunctionAsync("() => window.__marketplace.map?.provinces.some(p => p.province === 'Tibet' && p.pflops === 15.824)");
        Assert.Empty(tab.Errors);
    }

    [Fact]
    public async Task A_bid_placed_through_the_api_shows_as_filled_on_the_sme_page_without_a_reload()
    {
        var (tenantId, client, voucherId) = await fixture.Market.TenantAsync("Beijing", DemoMarket.BeijingProgram);
        using var _ = client;
        await using var tab = await fixture.SignInAsync(Names.Roles.Sme, tenantId, language: "en");
        var page = tab.Page;
        await page.Locator($"#vouchers tr[data-voucher='{voucherId}'][data-state='Active']").WaitForAsync();
        await page.EvaluateAsync("() => { window.__sameDocument = true; }");

        var bid = await DemoMarket.Ok(client.PostAsJsonAsync("/api/v1/bids", DemoMarket.Bid("H800-80G", gpus: 8, hours: 4, startInHours: 3, voucherId)));
        Assert.Equal("Filled", bid.GetProperty("state").GetString());
        var bidId = bid.GetProperty("id").GetString()!;
        await page.Locator($"#bids tr[data-bid='{bidId}'][data-state='Filled']").WaitForAsync();
        await page.Locator($"#reservations tr[data-reservation='{FirstFill(bid)}']").WaitForAsync();

        // A bid that rests (nobody lists capacity where it wants it) is cancelled from the page.
        var resting = await DemoMarket.Ok(client.PostAsJsonAsync("/api/v1/bids",
            DemoMarket.Bid("H800-80G", gpus: 4, hours: 2, startInHours: 2, provinces: [DemoMarket.ThinProvinces[0]])));
        var restingId = resting.GetProperty("id").GetString()!;
        var row = page.Locator($"#bids tr[data-bid='{restingId}'][data-state='Resting']");
        await row.Locator("button").ClickAsync();
        await page.Locator($"#bids tr[data-bid='{restingId}'][data-state='Cancelled']").WaitForAsync();

        // A quote from the page's form: the market answers with a pool, a start and the voucher's share.
        await page.ClickAsync("#quote");
        await page.Locator("#quote-result:has-text('Available now')").WaitForAsync();

        Assert.True(await page.EvaluateAsync<bool>("() => window.__sameDocument === true"));
        await tab.ScreenshotAsync("sme");
        Assert.Empty(tab.Errors);
    }

    [Fact]
    public async Task The_provider_page_shows_a_fill_on_its_pool_and_changes_its_price()
    {
        var providerId = Scenario.Unique("prov");
        await fixture.Market.ProviderAsync(new DemoSite("Qinghai", "Xining", 36.62, 101.78, "L40S-48G", 48, 700), providerId);
        var poolId = $"{providerId}-l40s-48g";
        await using var tab = await fixture.SignInAsync(Names.Roles.Provider, providerId, language: "en");
        var page = tab.Page;
        await page.Locator($"#pools tr[data-pool='{poolId}'][data-active='0']").WaitForAsync();
        // In compute too: 48 L40S × 362 dense BF16 TFLOPS = 17.376 PFLOPS; ceil(700 × 1000 / 362) = 1,934 fen per PFLOPS-hour.
        Assert.Equal(["= 17.376 PFLOPS", "= ¥19.34/PFLOPS-h"], await page.Locator($"#pools tr[data-pool='{poolId}'] small.compute").AllTextContentsAsync());

        var (_, client, _) = await fixture.Market.TenantAsync("Beijing", DemoMarket.BeijingProgram);
        var bids = new List<JsonElement>();
        using (client)
        {
            // Only this provider lists the model, and the starts are far enough apart that the three fills do not overlap.
            foreach (var (gpus, hours, startIn) in new[] { (8, 4, 2), (16, 10, 20), (32, 6, 40) })
            {
                var bid = await DemoMarket.Ok(client.PostAsJsonAsync("/api/v1/bids", DemoMarket.Bid("L40S-48G", gpus, hours, startIn)));
                Assert.Equal("Filled", bid.GetProperty("state").GetString());
                bids.Add(bid);
            }
            await page.Locator($"#pools tr[data-pool='{poolId}'][data-active='3']").WaitForAsync();
            foreach (var bid in bids)
            {
                await page.Locator($"#reservations tr[data-reservation='{FirstFill(bid)}']").WaitForAsync();
            }
        }
        await page.WaitForFunctionAsync("() => window.__marketplace.calendar?.bookedHours === 20");

        var row = page.Locator($"#pools tr[data-pool='{poolId}']");
        await row.Locator("input.price").FillAsync("6.50");
        await row.Locator("button").ClickAsync();
        await page.Locator($"#pools tr[data-pool='{poolId}'][data-ask='650']").WaitForAsync();
        using var provider = await fixture.System.ClientAsync(Names.Roles.Provider, providerId: providerId);
        var pools = await provider.GetFromJsonAsync<JsonElement>($"/api/v1/providers/{providerId}/pools");
        Assert.Equal(650, pools[0].GetProperty("askFenPerGpuHour").GetInt64());

        await tab.ScreenshotAsync("provider");

        // An outage from now over the first fill's hours interrupts it; the tenant's bid may be re-matched, on later hours.
        await page.SelectOptionAsync("#outage-pool", poolId);
        await page.FillAsync("#outage input[name='hours']", "8");
        await page.FillAsync("#outage input[name='reason']", "cooling maintenance");
        await page.ClickAsync("#outage button");
        await page.Locator("#outage-result:has-text('1 reservation(s) interrupted')").WaitForAsync();
        await page.Locator($"#reservations tr[data-reservation='{FirstFill(bids[0])}'][data-state='Interrupted']").WaitForAsync();
        Assert.Empty(tab.Errors);
    }

    [Fact]
    public async Task A_page_without_a_sign_in_goes_to_the_login_page_and_a_page_of_another_role_says_so()
    {
        var context = await fixture.Browser.NewContextAsync(new() { BaseURL = fixture.System.WebUrl.ToString() });
        try
        {
            var page = await context.NewPageAsync();
            page.SetDefaultTimeout(BrowserFixture.Wait);
            await page.GotoAsync("/regulator.html");
            await page.WaitForURLAsync("**/login.html");
        }
        finally
        {
            await context.CloseAsync();
        }

        await using var tab = await fixture.SignInAsync(Names.Roles.Sme, Scenario.Unique("tenant"), language: "en");
        await tab.Page.GotoAsync("/regulator.html");
        await tab.Page.Locator("#problem:has-text('This page is for regulator or admin users; you are signed in as sme.')").WaitForAsync();
        Assert.Equal(0, await tab.Page.Locator("#map canvas").CountAsync());
    }

    private static string FirstFill(JsonElement bid) => bid.GetProperty("fills")[0].GetProperty("reservationId").GetString()!;
}
