using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Marketplace.Testing;
using Microsoft.Playwright;
using Xunit;

namespace Marketplace.Browser.Tests;

/// <summary>The provider console does a data centre's whole job, in Chinese: earnings, outages, approvals and pool edits.</summary>
[Collection(BrowserCollection.Name)]
public sealed class ProviderConsoleTests(BrowserFixture fixture)
{
    private const string Model = "Ascend910B-64G";

    [Fact]
    public async Task In_chinese_a_provider_sees_its_earnings_ends_an_outage_sees_its_approval_and_a_stale_edit_is_refused()
    {
        var providerId = Scenario.Unique("prov");
        await fixture.Market.ProviderAsync(new DemoSite("Yunnan", "Kunming", 25.04, 102.71, Model, 32, 800), providerId);
        var poolId = $"{providerId}-{Model.ToLowerInvariant()}";
        using (var admin = await fixture.System.ClientAsync(Names.Roles.Admin))
        {
            await DemoMarket.Ok(admin.PutAsJsonAsync($"/api/v1/programs/{DemoMarket.BeijingProgram}/providers/{providerId}",
                new { batchId = "batch-7", effectiveFrom = DateTimeOffset.UtcNow.AddDays(-1) }));
        }
        var (_, tenant, _) = await fixture.Market.TenantAsync("Beijing", DemoMarket.BeijingProgram);
        using (tenant)
        {
            await DemoMarket.Ok(tenant.PostAsJsonAsync("/api/v1/bids", DemoMarket.Bid(Model, gpus: 4, hours: 3, startInHours: 3)));
        }
        using var provider = await fixture.System.ClientAsync(Names.Roles.Provider, providerId: providerId);
        var reservations = await provider.GetFromJsonAsync<JsonElement>($"/api/v1/providers/{providerId}/reservations");
        var plan = Assert.Single(reservations.EnumerateArray()).GetProperty("plan");
        var booked = plan.GetProperty("fenPerGpuHour").GetInt64() * plan.GetProperty("gpus").GetInt64() * plan.GetProperty("hours").GetInt64();

        await using var tab = await fixture.SignInAsync(Names.Roles.Provider, providerId, language: "zh");
        var page = tab.Page;

        // Earnings: booked (not yet settled) and settled, side by side, each labelled and explained.
        await page.Locator($"#earnings-booked[data-fen='{booked}']").WaitForAsync();
        Assert.Equal("0", await page.GetAttributeAsync("#earnings-settled", "data-fen"));
        var tiles = await page.Locator(".tiles").InnerTextAsync();
        Assert.Contains("已预订收入（未结算）", tiles);
        Assert.Contains("租用结束并结算后才会付给您", tiles);
        Assert.Contains("已结算收入", tiles);

        // Its reliability as buyers see it: 4 GPUs × 3 h booked is too little history for a score, so it shows as new.
        await page.Locator("#reliability:not([hidden])").WaitForAsync();
        Assert.Equal("买方看到的您：新服务商。近 90 天预订 12 GPU·小时，停机影响 0 GPU·小时（预订满 100 GPU·小时前显示为新服务商）。",
            await page.TextContentAsync("#reliability"));

        // Approval: the Beijing programme approved the company in batch-7.
        var approval = page.Locator($"#approvals tr[data-program='{DemoMarket.BeijingProgram}'][data-status='approved']");
        await approval.WaitForAsync();
        Assert.Contains("已准入", await approval.InnerTextAsync());
        Assert.Contains("batch-7", await approval.InnerTextAsync());
        Assert.Equal("none", await page.GetAttributeAsync($"#approvals tr[data-program='{DemoMarket.ShanghaiProgram}']", "data-status"));

        // An outage declared from the form is listed, and ended from the list.
        await page.SelectOptionAsync("#outage-pool", poolId);
        await page.FillAsync("#outage input[name='hours']", "2");
        await page.FillAsync("#outage input[name='reason']", "制冷系统检修");
        await page.ClickAsync("#outage button");
        var ongoing = page.Locator("#outages tr[data-state='ongoing']");
        await ongoing.WaitForAsync();
        Assert.Contains("进行中", await ongoing.InnerTextAsync());
        await ongoing.Locator("button").ClickAsync();
        await page.Locator("#outages tr[data-state='ended']").WaitForAsync();
        var pools = await provider.GetFromJsonAsync<JsonElement>($"/api/v1/providers/{providerId}/pools");
        var outage = Assert.Single(pools[0].GetProperty("outages").EnumerateArray());
        Assert.True(outage.GetProperty("to").GetDateTimeOffset() <= DateTimeOffset.UtcNow);

        // A stale edit: the page's live updates are held back while another operator changes the pool, so the page
        // still shows the version it read; its edit is refused with the reason, and the pool keeps the other change.
        var held = false;
        await page.RouteWebSocketAsync(url => url.Contains(Names.Hub.Path, StringComparison.Ordinal), socket =>
        {
            var server = socket.ConnectToServer();
            server.OnMessage(frame =>
            {
                if (!held)
                {
                    if (frame.Text is { } text) socket.Send(text); else socket.Send(frame.Binary!);
                }
            });
        });
        await page.ReloadAsync();
        await fixture.WaitUntilLiveAsync(tab, "/provider.html", "reloading the provider console");
        var row = page.Locator($"#pools tr[data-pool='{poolId}']");
        await row.WaitForAsync();
        var version = await row.GetAttributeAsync("data-version");
        held = true;
        var other = await provider.PatchAsJsonAsync($"/api/v1/providers/{providerId}/pools/{poolId}", new { askFenPerGpuHour = 900 });
        Assert.Equal(HttpStatusCode.OK, other.StatusCode);
        Assert.Equal(version, await row.GetAttributeAsync("data-version"));

        await row.Locator("input.price").FillAsync("7.00");
        await row.Locator("input.count").FillAsync("16");
        await row.Locator("button").ClickAsync();
        await page.Locator("#problem:has-text('该资源池在您读取后已被修改')").WaitForAsync();
        await page.Locator($"#pools tr[data-pool='{poolId}'][data-ask='900']").WaitForAsync();
        pools = await provider.GetFromJsonAsync<JsonElement>($"/api/v1/providers/{providerId}/pools");
        Assert.Equal((900L, 32), (pools[0].GetProperty("askFenPerGpuHour").GetInt64(), pools[0].GetProperty("gpuCount").GetInt32()));
        held = false;
        await tab.ScreenshotAsync("provider-console");
        // The browser reports the refused request itself on the console; nothing else went wrong.
        Assert.Contains("412", Assert.Single(tab.Errors));
    }

    [Fact]
    public async Task What_a_provider_is_typing_in_the_pools_table_survives_a_pushed_update_and_is_saved_from_the_version_it_was_typed_over()
    {
        var providerId = Scenario.Unique("prov");
        await fixture.Market.ProviderAsync(new DemoSite("Guizhou", "Guiyang", 26.65, 106.63, Model, 24, 800), providerId);
        var poolId = $"{providerId}-{Model.ToLowerInvariant()}";
        using var provider = await fixture.System.ClientAsync(Names.Roles.Provider, providerId: providerId);
        await using var tab = await fixture.SignInAsync(Names.Roles.Provider, providerId, language: "zh");
        var page = tab.Page;
        var row = page.Locator($"#pools tr[data-pool='{poolId}']");
        await row.WaitForAsync();

        await row.Locator("input.count").FillAsync("16");
        var other = await provider.PatchAsJsonAsync($"/api/v1/providers/{providerId}/pools/{poolId}", new { askFenPerGpuHour = 900 });
        Assert.Equal(HttpStatusCode.OK, other.StatusCode);

        // The push redrew the row with the other change, and the count being typed is still there.
        row = page.Locator($"#pools tr[data-pool='{poolId}'][data-ask='900']");
        await row.WaitForAsync();
        Assert.Equal("16", await row.Locator("input.count").InputValueAsync());
        Assert.Equal("8.00", await row.Locator("input.price").InputValueAsync());

        // Saved, it is refused: it was typed over the version before the other change, which it never showed.
        await row.Locator("button").ClickAsync();
        await page.Locator("#problem:has-text('该资源池在您读取后已被修改')").WaitForAsync();
        // The page read the pool again: what it shows now is the server's, the refused edit is gone.
        await page.WaitForFunctionAsync("pool => document.querySelector(`#pools tr[data-pool='${pool}'] input.count`)?.value === '24'", poolId);
        var pools = await provider.GetFromJsonAsync<JsonElement>($"/api/v1/providers/{providerId}/pools");
        Assert.Equal((900L, 24), (pools[0].GetProperty("askFenPerGpuHour").GetInt64(), pools[0].GetProperty("gpuCount").GetInt32()));
        Assert.Contains("412", Assert.Single(tab.Errors));
    }
}
