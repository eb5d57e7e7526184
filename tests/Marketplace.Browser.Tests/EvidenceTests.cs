using System.IO.Compression;
using System.Net.Http.Json;
using Microsoft.Playwright;
using Xunit;

namespace Marketplace.Browser.Tests;

/// <summary>A firm hands its auditor the evidence pack of a voucher: downloaded from its page, the statement opens and reads.</summary>
[Collection(BrowserCollection.Name)]
public sealed class EvidenceTests(BrowserFixture fixture)
{
    [Fact]
    public async Task An_sme_downloads_its_voucher_evidence_pack_from_its_page_and_the_statement_renders()
    {
        var (tenantId, client, voucherId) = await fixture.Market.TenantAsync("Beijing", DemoMarket.BeijingProgram);
        using var _ = client;
        var bid = await DemoMarket.Ok(client.PostAsJsonAsync("/api/v1/bids", DemoMarket.Bid("H800-80G", gpus: 8, hours: 4, startInHours: 3, voucherId)));
        var reservationId = bid.GetProperty("fills")[0].GetProperty("reservationId").GetString()!;

        await using var tab = await fixture.SignInAsync(Names.Roles.Sme, tenantId);
        var page = tab.Page;
        var download = await page.RunAndWaitForDownloadAsync(() => page.ClickAsync($"#vouchers button[data-evidence='{voucherId}']"));
        Assert.Equal($"evidence-{voucherId}.zip", download.SuggestedFilename);
        var path = Path.Combine(BrowserFixture.OutputDirectory, download.SuggestedFilename);
        await download.SaveAsAsync(path);

        string statement;
        using (var zip = ZipFile.OpenRead(path))
        {
            using var reader = new StreamReader(zip.GetEntry("statement.html")!.Open());
            statement = await reader.ReadToEndAsync();
        }
        var view = await page.Context.NewPageAsync();
        await view.SetContentAsync(statement);
        Assert.Equal("算力券使用证明 Compute voucher evidence statement", (await view.Locator("h1").InnerTextAsync()).Trim());
        Assert.Equal($"算力券使用证明 Compute voucher statement — {voucherId}", await view.TitleAsync());
        // The rental the voucher funded is listed with its share: 80 % of 8 GPUs × 4 h at the Beijing site's ask.
        var rental = view.Locator("#rentals tbody tr", new PageLocatorOptions { HasText = reservationId });
        Assert.Equal(1, await rental.CountAsync());
        Assert.Contains("已确认", await rental.InnerTextAsync());
        await view.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(BrowserFixture.OutputDirectory, "evidence-statement.png"), FullPage = true });
        Assert.Empty(tab.Errors);
    }

    [Fact]
    public async Task A_regulator_verifies_a_programmes_sealed_ledger_and_downloads_its_packs_from_the_map_page()
    {
        await using var tab = await fixture.SignInAsync(Names.Roles.Regulator);
        var page = tab.Page;
        var program = DemoMarket.BeijingProgram;
        await page.ClickAsync($"#evidence button[data-verify='{program}']");
        var row = page.Locator($"#evidence tr[data-program='{program}'][data-intact='true']");
        await row.WaitForAsync();
        Assert.StartsWith("完整：", await row.Locator("[role=status]").InnerTextAsync());

        var download = await page.RunAndWaitForDownloadAsync(() => page.ClickAsync($"#evidence button[data-download='{program}']"));
        Assert.Equal($"evidence-{program}.zip", download.SuggestedFilename);
        var path = Path.Combine(BrowserFixture.OutputDirectory, download.SuggestedFilename);
        await download.SaveAsAsync(path);
        using var zip = ZipFile.OpenRead(path);
        Assert.NotEmpty(zip.Entries);
        Assert.All(zip.Entries, e => Assert.Matches("^v-[^/]+/(claim\\.json|activity\\.json|reservations\\.csv|ledger\\.csv|chain\\.json|statement\\.html|manifest\\.json)$", e.FullName));
        Assert.Empty(tab.Errors);
    }
}
