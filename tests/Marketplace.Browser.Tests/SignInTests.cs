using System.Net.Http.Json;
using System.Text.Json;
using Marketplace.Testing;
using Microsoft.Playwright;
using Xunit;

namespace Marketplace.Browser.Tests;

/// <summary>Signing in with an account in Chromium: the login page, the provider's sign-in page, back to the role's console.</summary>
[Collection(BrowserCollection.Name)]
public sealed class SignInTests(BrowserFixture fixture)
{
    private const string Password = "browser-test-password";

    [Fact]
    public async Task Sign_in_with_an_account_in_the_browser_opens_its_console_and_signing_out_asks_for_the_password_again()
    {
        var email = $"{Scenario.Unique("browser")}@example.cn";
        using (var anonymous = new HttpClient { BaseAddress = fixture.System.WebUrl })
        {
            var created = await anonymous.PostAsJsonAsync("/api/v1/accounts", new { email, password = Password, role = Names.Roles.Sme });
            Assert.True(created.IsSuccessStatusCode, await created.Content.ReadAsStringAsync());
        }
        var context = await fixture.Browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = fixture.System.WebUrl.ToString(), Locale = "zh-CN" });
        try
        {
            var page = await context.NewPageAsync();
            page.SetDefaultTimeout(BrowserFixture.Wait);
            await page.GotoAsync("/login.html");
            await page.ClickAsync("#account-sign-in");

            // The provider's page, Chinese first, with labelled fields.
            await page.WaitForURLAsync("**/account/login?**");
            Assert.Equal("zh-CN", await page.GetAttributeAsync("html", "lang"));
            await page.GetByLabel("密码 Password").FillAsync("not-the-password");
            await page.GetByLabel("邮箱 Email").FillAsync(email);
            await page.ClickAsync("#sign-in");
            await page.Locator("#problem:has-text('邮箱或密码不正确')").WaitForAsync();

            await page.GetByLabel("密码 Password").FillAsync(Password);
            await page.ClickAsync("#sign-in");
            await page.WaitForFunctionAsync(
                "() => location.pathname === '/sme.html' && window.__marketplace && window.__marketplace.connected && window.__marketplace.snapshots > 0",
                null, new PageWaitForFunctionOptions { Timeout = 2 * BrowserFixture.Wait, PollingInterval = 100 });
            var session = JsonDocument.Parse(await page.EvaluateAsync<string>("() => sessionStorage.getItem('marketplace.session')")).RootElement;
            Assert.Equal(Names.Roles.Sme, session.GetProperty("role").GetString());
            Assert.StartsWith("t-", session.GetProperty("tenantId").GetString());

            // Signing out ends the provider's session: wait for that answer itself (it clears the sign-in cookie), then for
            // the page it sends the browser to to be committed, not loaded, so no later load event can be missed.
            var ended = await page.RunAndWaitForResponseAsync(() => page.ClickAsync("[data-sign-out]"),
                r => new Uri(r.Url).AbsolutePath == "/connect/endsession");
            Assert.Equal(302, ended.Status);
            await page.WaitForURLAsync(url => new Uri(url).AbsolutePath is "/" or "/index.html", new() { WaitUntil = WaitUntilState.Commit });
            await page.GotoAsync("/login.html");
            await page.ClickAsync("#account-sign-in");
            await page.WaitForURLAsync("**/account/login?**");
        }
        finally
        {
            await context.CloseAsync();
        }
    }
}
