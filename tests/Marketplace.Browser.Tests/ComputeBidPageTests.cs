using System.Net.Http.Json;
using System.Text.Json;
using Marketplace.Testing;
using Microsoft.Playwright;
using Xunit;

using static Marketplace.Browser.Tests.Shown;

namespace Marketplace.Browser.Tests;

/// <summary>Rule 9 on the SME console: a bid by compute (算力, PFLOPS·时) as well as by model, its quote listing every
/// qualifying model with the price per GPU-hour and per PFLOPS-hour.</summary>
[Collection(BrowserCollection.Name)]
public sealed class ComputeBidPageTests(BrowserFixture fixture)
{
    [Fact]
    public async Task Rule9_an_sme_quotes_and_bids_by_compute_and_sees_each_qualifying_model_with_both_prices()
    {
        var (tenantId, client, _) = await fixture.Market.TenantAsync("Beijing", DemoMarket.BeijingProgram);
        using var _ = client;
        await using var tab = await fixture.SignInAsync(Names.Roles.Sme, tenantId, language: "zh");
        var page = tab.Page;
        await page.Locator("#vendors option[value='NVIDIA']").WaitForAsync(new() { State = WaitForSelectorState.Attached });
        Assert.Equal("英伟达", await page.Locator("#vendors option[value='NVIDIA']").TextContentAsync());

        // By compute: the model half of the form is hidden and not sent.
        await page.CheckAsync("#bid [name=by][value=compute]");
        await page.Locator("#by-model").WaitForAsync(new() { State = WaitForSelectorState.Hidden });
        await page.FillAsync("#bid [name=pflopsHours]", "4");
        await page.FillAsync("#bid [name=durationHours]", "2");
        await page.FillAsync("#bid [name=maxPricePflops]", "50");
        await page.SelectOptionAsync("#vendors", "NVIDIA");
        var asked = await page.RunAndWaitForRequestAsync(() => page.ClickAsync("#quote"),
            r => r.Method == "POST" && new Uri(r.Url).AbsolutePath == "/api/v1/quotes");
        var sent = asked.PostDataJSON()!.Value;
        Assert.Equal((4L, 5_000L, 2), (sent.GetProperty("pflopsHours").GetInt64(), sent.GetProperty("maxFenPerPflopsHour").GetInt64(), sent.GetProperty("durationHours").GetInt32()));
        Assert.Equal(["NVIDIA"], sent.GetProperty("vendors").EnumerateArray().Select(v => v.GetString()));
        Assert.False(sent.TryGetProperty("gpuModel", out var _));
        Assert.False(sent.TryGetProperty("gpuCount", out var _));

        // Every NVIDIA model with a published TFLOPS figure, each line as the quote says, in the quote's order.
        var quote = JsonDocument.Parse(await (await asked.ResponseAsync())!.TextAsync()).RootElement;
        var models = quote.GetProperty("models").EnumerateArray().ToList();
        Assert.Equal(["A800-80G", "H20-96G", "H800-80G", "L40S-48G", "RTX4090-24G"], models.Select(m => m.GetProperty("gpuModel").GetString()).Order(StringComparer.Ordinal));
        var lines = page.Locator("#quote-models li");
        await Expect(lines).ToHaveCountAsync(models.Count);
        for (var i = 0; i < models.Count; i++)
        {
            var m = models[i];
            var model = m.GetProperty("gpuModel").GetString();
            Assert.Equal(model, await lines.Nth(i).GetAttributeAsync("data-model"));
            var head = $"{model}：{m.GetProperty("accelerators").GetInt32()} 张 × 2 小时，";
            var text = await lines.Nth(i).TextContentAsync();
            if (m.GetProperty("quote").GetProperty("available").GetBoolean())
            {
                Assert.Equal($"{head}{Yuan(m.GetProperty("quote").GetProperty("fenPerGpuHour").GetInt64())}/GPU·时，{Yuan(m.GetProperty("fenPerPflopsHour").GetInt64())}/PFLOPS·时", text);
            }
            else
            {
                Assert.StartsWith($"{head}暂无可用资源（", text);
            }
        }
        // The seeded H800 pools (1,400 fen per GPU-hour in Ningxia: 1,416 fen per PFLOPS-hour) are within 50 元: three H800 for 4 PFLOPS-hours.
        var h800 = Assert.Single(models, m => m.GetProperty("gpuModel").GetString() == "H800-80G");
        Assert.True(h800.GetProperty("quote").GetProperty("available").GetBoolean());
        Assert.Equal(3, h800.GetProperty("accelerators").GetInt32());

        // The bid goes to the model quoted first, as an ordinary bid the page lists.
        var placed = await page.RunAndWaitForRequestAsync(() => page.ClickAsync("#place"),
            r => r.Method == "POST" && new Uri(r.Url).AbsolutePath == "/api/v1/bids");
        Assert.Equal(4, placed.PostDataJSON()!.Value.GetProperty("pflopsHours").GetInt64());
        var bid = JsonDocument.Parse(await (await placed.ResponseAsync())!.TextAsync()).RootElement;
        Assert.Equal(models[0].GetProperty("gpuModel").GetString(), bid.GetProperty("order").GetProperty("gpuModel").GetString());
        Assert.Equal("Filled", bid.GetProperty("state").GetString());
        await page.Locator($"#bids tr[data-bid='{bid.GetProperty("id").GetString()}'][data-state='Filled']").WaitForAsync();
        Assert.Empty(tab.Errors);
    }

    [Fact]
    public async Task Rule9_an_sme_places_a_good_till_cancelled_compute_bid_that_rests_in_its_list_and_fills_live_when_capacity_is_listed()
    {
        // No voucher is active (no R&D activity registered), so the bid is paid in cash from the company's prepaid balance.
        var (tenantId, client, _) = await fixture.Market.TenantAsync("Beijing", DemoMarket.BeijingProgram, registerActivity: false);
        using var _ = client;
        await using var tab = await fixture.SignInAsync(Names.Roles.Sme, tenantId, language: "zh");
        var page = tab.Page;
        await page.Locator("#vendors option[value='Kunlunxin']").WaitForAsync(new() { State = WaitForSelectorState.Attached });

        // No other test lists Kunlunxin accelerators: 1 PFLOPS-hour within one hour, good till the window ends, rests.
        await page.CheckAsync("#bid [name=by][value=compute]");
        await page.FillAsync("#bid [name=pflopsHours]", "1");
        await page.FillAsync("#bid [name=durationHours]", "1");
        await page.FillAsync("#bid [name=maxPricePflops]", "30");
        await page.SelectOptionAsync("#vendors", "Kunlunxin");
        await page.SelectOptionAsync("#bid [name=timeInForce]", "Gtc");
        var placed = await page.RunAndWaitForRequestAsync(() => page.ClickAsync("#place"),
            r => r.Method == "POST" && new Uri(r.Url).AbsolutePath == "/api/v1/bids");
        var sent = placed.PostDataJSON()!.Value;
        Assert.Equal(("Gtc", JsonValueKind.Null, 1L), (sent.GetProperty("timeInForce").GetString(), sent.GetProperty("goodUntil").ValueKind,
            sent.GetProperty("pflopsHours").GetInt64()));
        var bid = JsonDocument.Parse(await (await placed.ResponseAsync())!.TextAsync()).RootElement;
        Assert.Equal("Resting", bid.GetProperty("state").GetString());
        var id = bid.GetProperty("id").GetString()!;
        var resting = page.Locator($"#bids tr[data-bid='{id}'][data-state='Resting']");
        await resting.WaitForAsync();
        Assert.Equal(("1 PFLOPS·时，1 小时", $"{Yuan(3_000)}/PFLOPS·时"),
            (await resting.Locator("td").Nth(1).TextContentAsync(), await resting.Locator("td").Nth(2).TextContentAsync()));

        // After a reload the list still has it, resting (read from the server, not only from the answer to the bid).
        await page.ReloadAsync();
        await resting.WaitForAsync();

        // Eight R200 are listed (ceil(1 × 1000 / 128) = 8, at 3.00 元 per GPU-hour, within floor(3,000 × 128 / 1000) = 3.84 元):
        // the row turns to filled without a reload, as the model and gang it filled as.
        await page.EvaluateAsync("() => { window.__sameDocument = true; }");
        var (providerId, _) = await fixture.Market.ProviderAsync(new DemoSite("Gansu", "Jiuquan", 39.74, 98.49, "KunlunR200-32G", 8, 300));
        var filled = page.Locator($"#bids tr[data-bid='{id}'][data-state='Filled']");
        await filled.WaitForAsync();
        Assert.Equal("1 PFLOPS·时（8 × KunlunR200-32G），1 小时", await filled.Locator("td").Nth(1).TextContentAsync());
        Assert.True(await page.EvaluateAsync<bool>("() => window.__sameDocument === true"));
        var stored = await DemoMarket.Ok(client.GetAsync($"/api/v1/bids/{id}"));
        await page.Locator($"#reservations tr[data-reservation='{stored.GetProperty("fills")[0].GetProperty("reservationId").GetString()}']").WaitForAsync();
        Assert.Equal(1, await page.Locator("#bids tbody tr").CountAsync());

        // An outage takes back the hour it filled, before it starts: the fill is interrupted and, with no other R200 listed,
        // the bid ends as its try did; the row follows without a reload.
        var startsAt = stored.GetProperty("fills")[0].GetProperty("startsAt").GetDateTimeOffset();
        using (var provider = await fixture.System.ClientAsync(Names.Roles.Provider, providerId: providerId))
        {
            await DemoMarket.Ok(provider.PostAsJsonAsync($"/api/v1/providers/{providerId}/pools/{providerId}-kunlunr200-32g/outages",
                new { outageId = Scenario.Unique("outage"), from = startsAt, to = startsAt.AddHours(1), reason = "power" }));
        }
        var ended = page.Locator($"#bids tr[data-bid='{id}']:not([data-state='Filled'])");
        await ended.WaitForAsync();
        var after = await DemoMarket.Ok(client.GetAsync($"/api/v1/bids/{id}"));
        Assert.Equal(("Cancelled", 0), (after.GetProperty("state").GetString(), after.GetProperty("fills").GetArrayLength()));
        Assert.Equal("Cancelled", await ended.GetAttributeAsync("data-state"));
        Assert.True(await page.EvaluateAsync<bool>("() => window.__sameDocument === true"));
        Assert.Empty(tab.Errors);
    }

    private static ILocatorAssertions Expect(ILocator locator)
    {
        Assertions.SetDefaultExpectTimeout(BrowserFixture.Wait);
        return Assertions.Expect(locator);
    }
}
