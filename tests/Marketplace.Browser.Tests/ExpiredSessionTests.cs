using System.Text.Json;
using System.Web;
using Marketplace.Testing;
using Microsoft.Playwright;
using Xunit;

namespace Marketplace.Browser.Tests;

/// <summary>
/// A session whose access token has expired, without waiting for it: the test moves the expiry the page keeps with the
/// token into the past (the page's own clock is what it renews by), and, where it says so, replaces the refresh token
/// with one the provider never issued (as a revoked one is to it).
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class ExpiredSessionTests(BrowserFixture fixture)
{
    private const string ExpireNow = "() => { const s = JSON.parse(sessionStorage.getItem('marketplace.session')); s.expiresAt = Date.now() - 1000; sessionStorage.setItem('marketplace.session', JSON.stringify(s)); }";

    [Fact]
    public async Task An_expired_access_token_is_renewed_with_the_refresh_token_and_the_page_carries_on_signed_in()
    {
        var (tenantId, client, voucherId) = await fixture.Market.TenantAsync("Beijing", DemoMarket.BeijingProgram);
        client.Dispose();
        await using var tab = await fixture.SignInAsync(Names.Roles.Sme, tenantId);
        var page = tab.Page;
        var before = await Session(page);
        Assert.True(before.GetProperty("expiresAt").GetInt64() > await page.EvaluateAsync<long>("() => Date.now()"));

        await page.EvaluateAsync(ExpireNow);
        var renewal = await page.RunAndWaitForResponseAsync(() => page.ReloadAsync(),
            r => new Uri(r.Url).AbsolutePath == "/connect/token");
        Assert.Equal(200, renewal.Status);
        Assert.Equal("refresh_token", HttpUtility.ParseQueryString(renewal.Request.PostData!)["grant_type"]);
        await fixture.WaitUntilLiveAsync(tab, "/sme.html", "reloading with an expired token");
        await page.Locator($"#vouchers tr[data-voucher='{voucherId}']").WaitForAsync();

        var after = await Session(page);
        Assert.NotEqual(before.GetProperty("token").GetString(), after.GetProperty("token").GetString());
        Assert.True(after.GetProperty("expiresAt").GetInt64() > await page.EvaluateAsync<long>("() => Date.now()"));
        Assert.Equal(tenantId, after.GetProperty("tenantId").GetString());
        Assert.True(await page.Locator("#problem").IsHiddenAsync());
        Assert.Empty(tab.Refused);
        Assert.Empty(tab.Errors);
    }

    [Fact]
    public async Task An_expired_session_that_cannot_be_renewed_goes_back_to_sign_in_with_one_chinese_first_message_and_no_401s()
    {
        await using var tab = await fixture.SignInAsync(Names.Roles.Regulator);
        var page = tab.Page;
        await page.EvaluateAsync(ExpireNow);
        await page.EvaluateAsync("() => { const s = JSON.parse(sessionStorage.getItem('marketplace.session')); s.refreshToken = 'revoked-' + s.refreshToken.slice(8); sessionStorage.setItem('marketplace.session', JSON.stringify(s)); }");

        var refused = await page.RunAndWaitForResponseAsync(() => page.ReloadAsync(), r => new Uri(r.Url).AbsolutePath == "/connect/token");
        Assert.Equal(400, refused.Status);
        await page.WaitForURLAsync("**/login.html?expired=1");
        Assert.Equal("登录已过期，请重新登录。", (await page.Locator("#problem").InnerTextAsync()).Trim());
        Assert.Null(await page.EvaluateAsync<string?>("() => sessionStorage.getItem('marketplace.session')"));
        // The API was never asked with the expired token: no 401 reached the page, let alone a stream of them.
        Assert.Empty(tab.Refused);

        // Without a refresh token, an expired session goes straight back: not even the provider is asked.
        await using var second = await fixture.SignInAsync(Names.Roles.Sme, Scenario.Unique("tenant"));
        await second.Page.EvaluateAsync(ExpireNow);
        await second.Page.EvaluateAsync("() => { const s = JSON.parse(sessionStorage.getItem('marketplace.session')); s.refreshToken = null; sessionStorage.setItem('marketplace.session', JSON.stringify(s)); }");
        var asked = second.ConnectRequests.Count;
        await second.Page.ReloadAsync();
        await second.Page.WaitForURLAsync("**/login.html?expired=1");
        await second.Page.Locator("#problem:has-text('登录已过期')").WaitForAsync();
        Assert.Equal(asked, second.ConnectRequests.Count);
        Assert.Empty(second.Refused);
    }

    [Fact]
    public async Task An_access_token_the_api_refuses_before_its_expiry_is_renewed_once_and_the_page_carries_on()
    {
        var providerId = Scenario.Unique("prov");
        await using var tab = await fixture.SignInAsync(Names.Roles.Provider, providerId);
        var page = tab.Page;
        // A token the API does not accept (as one signed with a key the server has since dropped), with a future expiry.
        await page.EvaluateAsync("() => { const s = JSON.parse(sessionStorage.getItem('marketplace.session')); s.token = 'not-a-token'; sessionStorage.setItem('marketplace.session', JSON.stringify(s)); }");

        var renewal = await page.RunAndWaitForResponseAsync(() => page.ReloadAsync(), r => new Uri(r.Url).AbsolutePath == "/connect/token");
        Assert.Equal(200, renewal.Status);
        await fixture.WaitUntilLiveAsync(tab, "/provider.html", "reloading with a refused token");
        await page.Locator($"#provider:has-text('{providerId}')").WaitForAsync();
        Assert.NotEqual("not-a-token", (await Session(page)).GetProperty("token").GetString());
        // Each request the page had in flight was refused once, and one renewal served them all: the page never showed it.
        Assert.NotEmpty(tab.Refused);
        Assert.Equal(tab.Refused.Count, tab.Refused.Distinct().Count());
        Assert.Single(tab.ConnectRequests, r => r.Body?.Contains("grant_type=refresh_token", StringComparison.Ordinal) == true);
        Assert.True(await page.Locator("#problem").IsHiddenAsync());
    }

    [Fact]
    public async Task A_token_the_live_hub_refuses_before_its_expiry_is_renewed_once_and_the_map_goes_live()
    {
        await using var tab = await fixture.SignInAsync(Names.Roles.Regulator);
        var page = tab.Page;
        await page.EvaluateAsync("() => { const s = JSON.parse(sessionStorage.getItem('marketplace.session')); s.token = 'not-a-token'; sessionStorage.setItem('marketplace.session', JSON.stringify(s)); }");

        // The API's answers wait until the hub has refused the token, so that the hub's refusal is the one that must lead
        // to the renewal (an API call's refusal renews too, and would otherwise race it).
        var hubRefused = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        page.Response += (_, response) =>
        {
            if (new Uri(response.Url).AbsolutePath.StartsWith("/hubs/market", StringComparison.Ordinal) && response.Status == 401)
            {
                hubRefused.TrySetResult();
            }
        };
        await page.RouteAsync("**/api/v1/**", async route =>
        {
            await hubRefused.Task;
            await route.ContinueAsync();
        });
        var renewal = await page.RunAndWaitForResponseAsync(() => page.ReloadAsync(), r => new Uri(r.Url).AbsolutePath == "/connect/token");
        Assert.Equal(200, renewal.Status);
        Assert.True(hubRefused.Task.IsCompleted);
        await fixture.WaitUntilLiveAsync(tab, "/regulator.html", "reloading the map with a refused token");
        Assert.NotEqual("not-a-token", (await Session(page)).GetProperty("token").GetString());
        Assert.True(await page.Locator("#problem").IsHiddenAsync());
    }

    private static async Task<JsonElement> Session(IPage page) =>
        JsonDocument.Parse(await page.EvaluateAsync<string>("() => sessionStorage.getItem('marketplace.session')")).RootElement.Clone();
}
