using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Marketplace.Testing;
using Microsoft.Playwright;
using Xunit;

namespace Marketplace.Browser.Tests;

/// <summary>The programme office's console, in Chinese: a programme created, its notice published, a company verified, its budget raised, its ledger exported and checked against the API, its claims closed early and found in the audit trail.</summary>
[Collection(BrowserCollection.Name)]
public sealed class ConsoleTests(BrowserFixture fixture)
{
    /// <summary>Rule 8: nothing fills without prepaid cash, so the programme office records a company's payment from the console.</summary>
    [Fact]
    public async Task An_admin_records_a_companys_payment_and_its_prepaid_cash_grows_by_it()
    {
        var (tenantId, tenantClient, _) = await fixture.Market.TenantAsync("Beijing", DemoMarket.BeijingProgram);
        using var client = tenantClient;
        var before = (await client.GetFromJsonAsync<JsonElement>("/api/v1/tenants/me/cash")).GetProperty("availableFen").GetInt64();
        await using var tab = await fixture.SignInAsync(Names.Roles.Admin);
        var page = tab.Page;
        await page.GotoAsync("/console.html");
        await page.Locator("#top-up-card:not([hidden])").WaitForAsync();

        var reference = Scenario.Unique("bank");
        await page.FillAsync("#top-up input[name='tenantId']", tenantId);
        await page.FillAsync("#top-up input[name='amount']", "1234.56");
        await page.FillAsync("#top-up input[name='paymentReference']", reference);
        await page.ClickAsync("#top-up button[type=submit]");

        await page.Locator($"#done:has-text('{reference}')").WaitForAsync();
        var after = (await client.GetFromJsonAsync<JsonElement>("/api/v1/tenants/me/cash")).GetProperty("availableFen").GetInt64();
        Assert.Equal(before + 123_456, after);
        Assert.Contains("1,234.56 元", await page.TextContentAsync("#done"), StringComparison.Ordinal);
        Assert.Empty(tab.Errors);
    }

    [Fact]
    public async Task An_admin_runs_a_programme_from_the_console_and_the_exported_ledger_holds_the_rows_the_api_shows()
    {
        await using var tab = await fixture.SignInAsync(Names.Roles.Admin);
        var page = tab.Page;
        await page.GotoAsync("/console.html");
        await page.Locator("#programmes tbody tr").First.WaitForAsync();
        Assert.Equal("算力券项目", await page.InnerTextAsync("#programmes-title"));

        // A programme, its claim window typed in Beijing time.
        var id = Scenario.Unique("office");
        await page.FillAsync("#create input[name='id']", id);
        await page.FillAsync("#create input[name='name']", "中小企业算力券");
        await page.FillAsync("#create input[name='issuer']", "北京市科学技术委员会");
        await page.SelectOptionAsync("#create-province", "Beijing");
        await page.FillAsync("#create input[name='claimOpensAt']", "2026-01-01T08:00");
        await page.FillAsync("#create input[name='budget']", "100000");
        await page.FillAsync("#create input[name='cap']", "50000");
        await page.ClickAsync("#create button[type='submit']");
        await page.Locator($"#detail[data-programme='{id}']").WaitForAsync();
        using var admin = await fixture.System.ClientAsync(Names.Roles.Admin);
        var created = await Programme(admin, id);
        Assert.Equal(10_000_000, created.GetProperty("budgetFen").GetInt64());
        Assert.Equal(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero), created.GetProperty("definition").GetProperty("claimOpensAt").GetDateTimeOffset());
        Assert.Equal("10.00 万元", await page.Locator($"#programmes tbody tr[data-id='{id}'] td").Nth(3).InnerTextAsync());

        // An approval notice, effective at a Beijing time.
        var providerCode = Scenario.NewCreditCode("Beijing");
        await page.FillAsync("#notice input[name='batchId']", "2026-b1");
        await page.FillAsync("#notice input[name='creditCode']", providerCode);
        await page.FillAsync("#notice input[name='effectiveFrom']", "2026-01-02T09:30");
        await page.ClickAsync("#notice button[type='submit']");
        var notice = page.Locator($"#notices tbody tr[data-credit-code='{providerCode}'] td");
        await notice.First.WaitForAsync();
        Assert.Equal(["2026-b1", providerCode, "已核准", "2026-01-02 09:30 北京时间"], await notice.AllInnerTextsAsync());
        var published = (await Programme(admin, id)).GetProperty("providerNotices").EnumerateArray().Single(n => n.GetProperty("creditCode").GetString() == providerCode);
        Assert.Equal(new DateTimeOffset(2026, 1, 2, 1, 30, 0, TimeSpan.Zero), published.GetProperty("effectiveFrom").GetDateTimeOffset());

        // A company verified from the queue the console links to, which can then claim a voucher of the programme.
        var tenantId = Scenario.Unique("tenant");
        using var sme = await fixture.System.ClientAsync(Names.Roles.Sme, tenantId: tenantId);
        await DemoMarket.Ok(sme.PostAsJsonAsync("/api/v1/tenants", new { name = "海淀智算科技", kind = "Sme", province = "Beijing", creditCode = Scenario.NewCreditCode("Beijing") }));
        await page.ClickAsync("header a[href='companies.html']");
        await page.WaitForURLAsync("**/companies.html");
        await page.ClickAsync($"#queue section[data-party='tenant'][data-id='{tenantId}'] button[data-verify='{tenantId}']");
        await page.Locator("#decided[data-state='Verified']").WaitForAsync();
        var voucher = await DemoMarket.Ok(sme.PostAsJsonAsync($"/api/v1/programs/{id}/vouchers", new { amountFen = 3_000_000 }));
        var voucherId = voucher.GetProperty("id").GetString()!;

        // The budget raised by 20,000 元 with a reason.
        await page.GotoAsync("/console.html");
        await page.ClickAsync($"#programmes tbody tr[data-id='{id}'] button");
        await page.Locator($"#detail[data-programme='{id}']").WaitForAsync();
        await page.FillAsync("#raise input[name='amount']", "20000");
        await page.FillAsync("#raise input[name='reason']", "第二批资金到位");
        await page.ClickAsync("#raise button[type='submit']");
        await page.Locator("#done:has-text('12.00 万元')").WaitForAsync();
        Assert.Equal(12_000_000, (await Programme(admin, id)).GetProperty("budgetFen").GetInt64());

        // The ledger exported from the page: every entry the API shows, row for row.
        await page.Locator("#ledger tbody tr[data-id]").Nth(2).WaitForAsync();
        var download = await page.RunAndWaitForDownloadAsync(() => page.ClickAsync("#export"));
        Assert.Equal($"ledger-{id}.csv", download.SuggestedFilename);
        var csv = Encoding.UTF8.GetString(await File.ReadAllBytesAsync((await download.PathAsync())!)).TrimStart('\uFEFF');
        var rows = csv.Split("\r\n", StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(line => line.Split(',')).ToList();
        var ledger = await DemoMarket.Ok(admin.GetAsync($"/api/v1/programs/{id}/ledger?pageSize=100"));
        var expected = ledger.GetProperty("transactions").EnumerateArray().SelectMany(t => t.GetProperty("entries").EnumerateArray()
            .Select(e => (t.GetProperty("id").GetString(), e.GetProperty("account").GetString(), e.GetProperty("amountFen").GetInt64().ToString()))).ToList();
        Assert.Equal(6, expected.Count); // the first budget, the raise and the claim, two entries each
        Assert.Equal(expected, rows.Select(r => ((string?)r[1], (string?)r[8], r[9])).ToList());
        Assert.Contains(rows, r => r[1] == $"claim:{voucherId}" && r[3] == voucherId);
        Assert.All(rows, r => Assert.EndsWith("+08:00", r[5], StringComparison.Ordinal));

        // Claims closed early, after a confirmation: the page says so, and the close is in the audit trail.
        page.Dialog += async (_, dialog) => await dialog.AcceptAsync();
        await page.FillAsync("#close input[name='reason']", "预算并入2027年项目");
        await page.ClickAsync("#close button[type='submit']");
        await page.Locator("#detail-state:has-text('提前结束申领')").WaitForAsync();
        Assert.Equal(JsonValueKind.String, (await Programme(admin, id)).GetProperty("closedAt").ValueKind);
        Assert.Equal("已提前结束", await page.Locator($"#programmes tbody tr[data-id='{id}'] .badge").InnerTextAsync());
        await tab.ScreenshotAsync("console");

        await page.FillAsync("#audit-filter input[name='action']", "POST /api/v1/programs/{id}/close");
        var closeEntry = page.Locator($"#audit tbody tr td:text-is('POST /api/v1/programs/{id}/close')");
        // The trail is written in the background: ask again until the entry is there.
        for (var attempt = 0; attempt < 50 && await closeEntry.CountAsync() == 0; attempt++)
        {
            await page.ClickAsync("#audit-filter button[type='submit']");
            await page.WaitForTimeoutAsync(200);
        }
        Assert.Equal(1, await closeEntry.CountAsync());
        Assert.Empty(tab.Errors);
    }

    private static async Task<JsonElement> Programme(HttpClient client, string id) => await DemoMarket.Ok(client.GetAsync($"/api/v1/programs/{id}"));
}
