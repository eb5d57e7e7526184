using System.Net.Http.Json;
using System.Text.Json;
using Marketplace.Testing;
using Xunit;

namespace Marketplace.Browser.Tests;

/// <summary>The programme office's company verification page: the queue of registrations and changes, Verify and Reject.</summary>
[Collection(BrowserCollection.Name)]
public sealed class CompanyVerificationTests(BrowserFixture fixture)
{
    [Fact]
    public async Task A_regulator_verifies_a_provider_registration_from_the_queue_and_rejects_a_later_change_shown_as_a_diff_with_a_reason()
    {
        var providerId = Scenario.Unique("prov");
        var creditCode = Scenario.NewCreditCode("Gansu");
        using var provider = await fixture.System.ClientAsync(Names.Roles.Provider, providerId: providerId);
        await DemoMarket.Ok(provider.PostAsJsonAsync("/api/v1/providers", Registration(creditCode, installed: 512)));

        await using var tab = await fixture.SignInAsync(Names.Roles.Regulator);
        var page = tab.Page;
        await page.ClickAsync("#companies-link");
        await page.WaitForURLAsync("**/companies.html");
        var card = page.Locator($"#queue section[data-party='provider'][data-id='{providerId}']");
        await card.WaitForAsync();

        // The registration as the regulator judges it: who, the credit code, each site with the GPUs installed there.
        Assert.Equal("1", await card.GetAttributeAsync("data-revision"));
        var text = await card.InnerTextAsync();
        Assert.Contains("算力服务商 · Lanzhou Compute", text, StringComparison.Ordinal);
        Assert.Contains("新登记", text, StringComparison.Ordinal);
        Assert.Contains(creditCode, text, StringComparison.Ordinal);
        var site = card.Locator("table.sites tr[data-site='lz-1'] td");
        Assert.Equal(["lz-1", "Lanzhou DC 1", "Lanzhou", "甘肃", "H800-80G × 512"], await site.AllInnerTextsAsync());
        Assert.Equal(0, await card.Locator("table.diff").CountAsync());

        await card.Locator($"button[data-verify='{providerId}']").ClickAsync();
        await page.Locator("#decided[data-state='Verified']:has-text('已核准')").WaitForAsync();
        await card.WaitForAsync(new() { State = Microsoft.Playwright.WaitForSelectorState.Detached });
        Assert.Equal("Verified", (await Me(provider)).GetProperty("status").GetProperty("state").GetString());

        // A change after verification (more GPUs installed): pending again, shown with what it was and what it is.
        await DemoMarket.Ok(provider.PostAsJsonAsync("/api/v1/providers", Registration(creditCode, installed: 1024)));
        await page.ClickAsync("#refresh");
        await card.WaitForAsync();
        Assert.Contains("变更待审核", await card.InnerTextAsync(), StringComparison.Ordinal);
        var change = card.Locator("table.diff tr[data-field='installedGpus[lz-1][H800-80G]'] td");
        Assert.Equal(["已装GPU · lz-1 · H800-80G", "512", "1024"], await change.AllInnerTextsAsync());
        Assert.Equal(1, await card.Locator("table.diff tbody tr").CountAsync());
        await tab.ScreenshotAsync("companies");

        // Reject needs a reason: without one the browser keeps the form, and nothing is sent.
        var reject = card.Locator($"button[data-reject='{providerId}']");
        await reject.ClickAsync();
        Assert.Equal(1, await card.Locator("input[name='reason']:invalid").CountAsync());
        Assert.Equal("Pending", (await Me(provider)).GetProperty("status").GetProperty("state").GetString());
        await card.Locator("input[name='reason']").FillAsync("请提供新增GPU的采购凭证。 Show the invoices for the added GPUs.");
        await reject.ClickAsync();
        await page.Locator("#decided[data-state='Rejected']:has-text('已驳回')").WaitForAsync();
        await card.WaitForAsync(new() { State = Microsoft.Playwright.WaitForSelectorState.Detached });
        var status = (await Me(provider)).GetProperty("status");
        Assert.Equal(("Rejected", "请提供新增GPU的采购凭证。 Show the invoices for the added GPUs."),
            (status.GetProperty("state").GetString(), status.GetProperty("reason").GetString()));
        Assert.Empty(tab.Errors);
    }

    [Fact]
    public async Task The_verification_page_is_for_the_programme_office_only()
    {
        await using var tab = await fixture.SignInAsync(Names.Roles.Provider, Scenario.Unique("prov"), language: "en");
        await tab.Page.GotoAsync("/companies.html");
        await tab.Page.Locator("#problem:has-text('This page is for regulator or admin users; you are signed in as provider.')").WaitForAsync();
        Assert.Equal(0, await tab.Page.Locator("#queue section").CountAsync());
    }

    private static object Registration(string creditCode, int installed) => new
    {
        name = "Lanzhou Compute",
        creditCode,
        sites = new[]
        {
            new { siteId = "lz-1", name = "Lanzhou DC 1", province = "Gansu", city = "Lanzhou", latitude = 36.06, longitude = 103.83, greenPowerPercent = 60,
                installedGpus = new Dictionary<string, int> { ["H800-80G"] = installed } },
        },
    };

    private static async Task<JsonElement> Me(HttpClient provider) => await provider.GetFromJsonAsync<JsonElement>("/api/v1/providers/me");
}
