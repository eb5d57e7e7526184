using System.Net.Http.Json;
using System.Text.Json;
using Marketplace.Testing;
using Xunit;

namespace Marketplace.Browser.Tests;

/// <summary>The regulator's charts over time read their past from the server, and the map's colours are relative to the busiest province.</summary>
[Collection(BrowserCollection.Name)]
public sealed class HistoryTests(BrowserFixture fixture)
{
    /// <summary>The history chart's lines, up to the latest point the server gave it (live pushes come later), as JSON.</summary>
    private const string HistoryLines = """
        () => {
          const element = document.getElementById("series");
          const latest = Date.parse(element.dataset.historyLatest);
          const option = echarts.getInstanceByDom(element).getOption();
          return JSON.stringify(option.series.map(s => ({ name: s.name, data: s.data.filter(p => Date.parse(p[0]) <= latest) })));
        }
        """;

    [Fact]
    public async Task After_fills_the_regulators_utilization_history_has_data_and_a_reload_shows_the_same_data()
    {
        var (_, client, voucherId) = await fixture.Market.TenantAsync("Beijing", DemoMarket.BeijingProgram);
        using (client)
        {
            await DemoMarket.Ok(client.PostAsJsonAsync("/api/v1/bids", DemoMarket.Bid("H800-80G", gpus: 8, hours: 3, startInHours: 2, voucherId)));
        }
        await using var tab = await fixture.SignInAsync(Names.Roles.Regulator);
        var page = tab.Page;
        // The rollup runs every second here: wait until the chart was drawn from history that has points.
        await page.WaitForFunctionAsync("() => Number(document.getElementById('series').dataset.historyPoints ?? 0) > 0");
        var before = await page.EvaluateAsync<string>(HistoryLines);
        var lines = JsonDocument.Parse(before).RootElement.EnumerateArray().ToList();
        Assert.Contains(lines, l => l.GetProperty("data").GetArrayLength() > 0);
        Assert.Equal("hour", await page.GetAttributeAsync("#series", "data-history-range"));
        Assert.Equal("true", await page.GetAttributeAsync(".history-ranges button[data-range='hour']", "aria-pressed"));
        Assert.Equal(["近1小时", "近1天", "近1周"], await page.Locator(".history-ranges button").AllTextContentsAsync());

        var latest = await page.GetAttributeAsync("#series", "data-history-latest");
        await page.ReloadAsync();
        await fixture.WaitUntilLiveAsync(tab, "/regulator.html", "reloading the regulator's page");
        await page.WaitForFunctionAsync("() => Number(document.getElementById('series').dataset.historyPoints ?? 0) > 0");
        var after = await page.EvaluateAsync<string>(HistoryLines.Replace("Date.parse(element.dataset.historyLatest)", $"Date.parse('{latest}')",
            StringComparison.Ordinal));
        Assert.Equal(before, after);
        Assert.Empty(tab.Errors);
    }

    [Fact]
    public async Task A_push_after_the_load_is_described_in_the_charts_text_alternative_and_leaves_what_the_load_brought_marked()
    {
        await using var tab = await fixture.SignInAsync(Names.Roles.Regulator);
        var page = tab.Page;
        // A second chart of the same history on the page, so that the page's own pushes do not reach it: one push of one
        // province, an hour after anything the server holds.
        var marks = await page.EvaluateAsync<JsonElement>("""
            async () => {
              const { regulatorHistory } = await import("/js/history.js");
              const element = document.createElement("div");
              element.className = "chart";
              document.querySelector("main").append(element);
              const chart = regulatorHistory(element);
              await chart.loaded();
              const read = () => ({ points: Number(element.dataset.historyPoints), drawn: Number(element.dataset.historyDrawn),
                latest: element.dataset.historyLatest, label: element.getAttribute("aria-label") });
              const loaded = read();
              const at = new Date(Date.now() + 3600_000).toISOString();
              chart.push({ at, provinces: [{ province: "Beijing", gpuCount: 8, busyGpusNow: 2 }] });
              return { loaded, pushed: read(), at };
            }
            """);
        var loaded = marks.GetProperty("loaded");
        var pushed = marks.GetProperty("pushed");
        var at = marks.GetProperty("at").GetString();
        Assert.Equal(loaded.GetProperty("points").GetInt32(), loaded.GetProperty("drawn").GetInt32());
        // The push drew a point on the line of all provinces and one on Beijing's.
        Assert.Equal(loaded.GetProperty("drawn").GetInt32() + 2, pushed.GetProperty("drawn").GetInt32());
        Assert.Equal($"各省已预订 GPU 占比随时间变化：{pushed.GetProperty("drawn").GetInt32()} 个历史数据点，最新 {at}",
            pushed.GetProperty("label").GetString());
        // What the load brought is marked as it was: a reload of the range shows that again.
        Assert.Equal(loaded.GetProperty("points").GetInt32(), pushed.GetProperty("points").GetInt32());
        Assert.Equal(loaded.GetProperty("latest").GetString(), pushed.GetProperty("latest").GetString());
        Assert.Empty(tab.Errors);
    }

    [Fact]
    public async Task The_maps_colour_for_a_province_at_2_percent_booked_differs_from_one_at_10_percent_and_its_scale_ends_at_the_busiest()
    {
        await using var tab = await fixture.SignInAsync(Names.Roles.Regulator);
        var page = tab.Page;
        var scale = await page.EvaluateAsync<JsonElement>("""
            async () => {
              const map = await import("/js/map.js");
              const top = map.scaleTop([2, 10]);
              return { top, low: map.provinceColour(2, top), high: map.provinceColour(10, top), idle: map.provinceColour(0, top) };
            }
            """);
        Assert.Equal(10, scale.GetProperty("top").GetDouble());
        Assert.NotEqual(scale.GetProperty("low").GetString(), scale.GetProperty("high").GetString());
        Assert.Equal("#0b3a91", scale.GetProperty("high").GetString());
        Assert.Equal("#e3eefc", scale.GetProperty("idle").GetString());

        // On the page: the visual map runs from 0 to the busiest province's share, and its legend says so.
        await page.WaitForFunctionAsync("() => (window.__marketplace.map?.provinces.length ?? 0) > 0");
        var drawn = await page.EvaluateAsync<JsonElement>("""
            () => {
              const option = echarts.getInstanceByDom(document.getElementById("map")).getOption();
              const shares = window.__marketplace.map.provinces.map(p => p.utilization);
              return { max: option.visualMap[0].max, busiest: Math.max(...shares), legend: option.title[0].text };
            }
            """);
        var busiest = drawn.GetProperty("busiest").GetDouble();
        Assert.Equal(busiest > 0 ? busiest : 1, drawn.GetProperty("max").GetDouble());
        Assert.Equal("相对于最繁忙省份", drawn.GetProperty("legend").GetString());
        Assert.Empty(tab.Errors);
    }

    [Fact]
    public async Task A_click_on_a_province_lists_its_sites_and_pools_and_a_click_on_a_thin_one_says_what_is_wanted_there()
    {
        await using var tab = await fixture.SignInAsync(Names.Roles.Regulator);
        var page = tab.Page;
        await page.WaitForFunctionAsync("n => (window.__marketplace.map?.sites.length ?? 0) >= n", DemoMarket.Sites.Length);
        var guizhou = DemoMarket.Sites.Single(s => s.Province == "Guizhou");
        await ClickAtAsync(page, guizhou.Longitude, guizhou.Latitude);
        var panel = page.Locator("#province-panel[data-province='Guizhou']");
        await panel.WaitForAsync();
        var text = await panel.TextContentAsync();
        Assert.Contains($"{guizhou.City} DC 1", text, StringComparison.Ordinal);
        Assert.Contains($"{guizhou.GpuModel}：{guizhou.Gpus} 块 GPU", text, StringComparison.Ordinal);

        // Jinhua: nobody lists capacity in Zhejiang, where bids rest unfilled.
        await ClickAtAsync(page, 120.0, 29.3);
        var thin = page.Locator("#province-panel[data-province='Zhejiang']");
        await thin.WaitForAsync();
        var thinText = await thin.TextContentAsync();
        Assert.Contains("该省暂无资源池。", thinText, StringComparison.Ordinal);
        Assert.Contains("个出价等待成交", thinText, StringComparison.Ordinal);
        Assert.Empty(tab.Errors);
    }

    [Fact]
    public async Task The_providers_earnings_chart_shows_a_fill_from_the_servers_history()
    {
        var providerId = Scenario.Unique("prov");
        // Only this provider lists the model, so the bid fills on its pool: 4 GPUs for 5 hours at 6.00 元.
        await fixture.Market.ProviderAsync(new DemoSite("Qinghai", "Golmud", 36.40, 94.90, "RTX4090-24G", 16, 600), providerId);
        var (_, client, _) = await fixture.Market.TenantAsync("Beijing", DemoMarket.BeijingProgram);
        using (client)
        {
            await DemoMarket.Ok(client.PostAsJsonAsync("/api/v1/bids", DemoMarket.Bid("RTX4090-24G", gpus: 4, hours: 5, startInHours: 2)));
        }
        // The rollup runs every second here: the fill is in the history before the page opens.
        using (var provider = await fixture.System.ClientAsync(Names.Roles.Provider, providerId: providerId))
        {
            var deadline = DateTimeOffset.UtcNow.AddMilliseconds(BrowserFixture.Wait);
            while ((await provider.GetFromJsonAsync<JsonElement>($"/api/v1/providers/{providerId}/history?range=hour")).GetProperty("fills").GetArrayLength() == 0)
            {
                Assert.True(DateTimeOffset.UtcNow < deadline, "the fill did not reach the provider's history");
                await Task.Delay(200);
            }
        }
        await using var tab = await fixture.SignInAsync(Names.Roles.Provider, providerId);
        var page = tab.Page;
        await page.WaitForFunctionAsync("() => Number(document.getElementById('series').dataset.historyPoints ?? 0) > 0");
        var earnings = await page.EvaluateAsync<double[]>(
            "() => echarts.getInstanceByDom(document.getElementById('series')).getOption().series[1].data.map(p => p[1])");
        Assert.Equal([4 * 5 * 6.00], earnings);
        Assert.Empty(tab.Errors);
    }

    [Fact]
    public async Task The_programme_offices_take_up_chart_shows_a_programmes_money_over_time_as_the_server_rolled_it_up()
    {
        var (_, client, voucherId) = await fixture.Market.TenantAsync("Beijing", DemoMarket.BeijingProgram);
        using (client)
        {
            await DemoMarket.Ok(client.PostAsJsonAsync("/api/v1/bids", DemoMarket.Bid("H800-80G", gpus: 2, hours: 2, startInHours: 2, voucherId)));
        }
        await using var tab = await fixture.SignInAsync(Names.Roles.Regulator);
        var page = tab.Page;
        await page.GotoAsync("/console.html");
        await page.WaitForFunctionAsync("() => Number(document.getElementById('takeup').dataset.historyPoints ?? 0) > 0");
        await page.SelectOptionAsync("#takeup-scope", $"p:{DemoMarket.BeijingProgram}");
        var drawn = await page.EvaluateAsync<JsonElement>("""
            () => {
              const option = echarts.getInstanceByDom(document.getElementById("takeup")).getOption();
              const latest = document.getElementById("takeup").dataset.historyLatest;
              return option.series.map(s => ({ name: s.name, value: s.data.find(p => p[0] === latest)?.[1] ?? null }));
            }
            """);
        Assert.Equal(["已发放", "冻结中", "已使用", "已退回", "其中逾期失效"], drawn.EnumerateArray().Select(s => s.GetProperty("name").GetString()));

        // The same instant as the API gives it for the programme, in 元.
        var latest = await page.GetAttributeAsync("#takeup", "data-history-latest");
        using var regulator = await fixture.System.ClientAsync(Names.Roles.Regulator);
        var history = await regulator.GetFromJsonAsync<JsonElement>($"/api/v1/history/takeup?range=hour&programId={DemoMarket.BeijingProgram}");
        var point = history.GetProperty("points").EnumerateArray().Single(p => p.GetProperty("at").GetDateTimeOffset() == DateTimeOffset.Parse(latest!));
        Assert.True(point.GetProperty("issuedFen").GetInt64() > 0);
        Assert.Equal(new[] { "issuedFen", "heldFen", "spentFen", "returnedFen", "lapsedFen" }.Select(f => point.GetProperty(f).GetInt64() / 100.0),
            drawn.EnumerateArray().Select(s => s.GetProperty("value").GetDouble()));

        // Its table view, once opened, lists the same latest amounts first, in 元 (万元 from 10,000 元).
        Assert.Equal(0, await page.Locator("#takeup ~ .history-table tbody tr").CountAsync()); // built only when opened
        await page.Locator("#takeup ~ .history-table summary").ClickAsync();
        var firstRow = await page.Locator("#takeup ~ .history-table tbody tr").First.TextContentAsync();
        var issued = point.GetProperty("issuedFen").GetInt64() / 100.0;
        var inYuan = issued >= 10_000 ? $"{issued / 10_000:N2} 万元" : $"{issued:N2} 元";
        Assert.Contains(inYuan, firstRow, StringComparison.Ordinal);
        Assert.Empty(tab.Errors);
    }

    private static async Task ClickAtAsync(Microsoft.Playwright.IPage page, double longitude, double latitude)
    {
        var point = await page.EvaluateAsync<double[]>(
            "([lon, lat]) => echarts.getInstanceByDom(document.getElementById('map')).convertToPixel({ geoIndex: 0 }, [lon, lat])",
            new[] { longitude, latitude });
        var box = (await page.Locator("#map").BoundingBoxAsync())!;
        await page.Mouse.ClickAsync((float)(box.X + point[0]), (float)(box.Y + point[1]));
    }
}
