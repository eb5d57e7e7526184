using System.Text.Json;
using System.Web;
using Marketplace.Testing;
using Microsoft.Playwright;
using Xunit;

namespace Marketplace.Browser.Tests;

/// <summary>Signing in with an account in Chromium: the login page, the provider's sign-in page, back to the role's console.</summary>
[Collection(BrowserCollection.Name)]
public sealed class SignInTests(BrowserFixture fixture)
{
    [Fact]
    public async Task Sign_in_with_an_account_in_the_browser_opens_its_console_and_signing_out_asks_for_the_password_again()
    {
        var email = await fixture.RegisterAsync();
        var context = await fixture.Browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = fixture.System.WebUrl.ToString(), Locale = "zh-CN" });
        try
        {
            var page = await context.NewPageAsync();
            page.SetDefaultTimeout(BrowserFixture.Wait);
            // A new account opens the link mailed to it first (the login page says so); then it can sign in.
            await page.GotoAsync(await fixture.ConfirmationLinkAsync(email));
            Assert.StartsWith("邮箱已确认", await page.InnerTextAsync("#confirmed"));
            await page.GotoAsync("/login.html");
            Assert.StartsWith("新注册的账户须先打开确认邮件中的链接", await page.InnerTextAsync("#confirm-hint"));
            // The account's sign-in is the only way in: no development token form beside it.
            Assert.Equal(0, await page.Locator("#login, #role, #sign-in").CountAsync());
            await page.ClickAsync("#account-sign-in");

            // The provider's page, Chinese first, with labelled fields.
            await page.WaitForURLAsync("**/account/login?**");
            Assert.Equal("zh-CN", await page.GetAttributeAsync("html", "lang"));
            await page.GetByLabel("密码 Password").FillAsync("not-the-password");
            await page.GetByLabel("邮箱 Email").FillAsync(email);
            await page.ClickAsync("#sign-in");
            await page.Locator("#problem:has-text('邮箱或密码不正确')").WaitForAsync();

            await page.GetByLabel("密码 Password").FillAsync(BrowserFixture.Password);
            await page.ClickAsync("#sign-in");
            await page.WaitForFunctionAsync(
                "() => location.pathname === '/sme.html' && window.__marketplace && window.__marketplace.connected && window.__marketplace.snapshots > 0",
                null, new PageWaitForFunctionOptions { Timeout = 2 * BrowserFixture.Wait, PollingInterval = 100 });
            var session = JsonDocument.Parse(await page.EvaluateAsync<string>("() => sessionStorage.getItem('marketplace.session')")).RootElement;
            Assert.Equal(Names.Roles.Sme, session.GetProperty("role").GetString());
            Assert.StartsWith("t-", session.GetProperty("tenantId").GetString());

            await SignOutAsync(page);
            await page.GotoAsync("/login.html");
            await page.ClickAsync("#account-sign-in");
            await page.WaitForURLAsync("**/account/login?**");
        }
        finally
        {
            await context.CloseAsync();
        }
    }

    [Theory]
    [InlineData(Names.Roles.Sme)]
    [InlineData(Names.Roles.Provider)]
    [InlineData(Names.Roles.Regulator)]
    [InlineData(Names.Roles.Admin)]
    public async Task Each_role_signs_in_with_code_and_pkce_sees_only_its_own_organisation_and_after_signing_out_is_asked_to_sign_in_again(string role)
    {
        // Two organisations of the role where it has one: the account's own, and another it must not see.
        var (id, name, otherId, otherName) = role switch
        {
            Names.Roles.Sme => await TwoTenantsAsync(),
            Names.Roles.Provider => await TwoProvidersAsync(),
            _ => (null, null, null, null),
        };
        await using var tab = await fixture.SignInAsync(role, id);
        var page = tab.Page;

        // Code flow with PKCE: the authorization request carries an S256 challenge, the token request its verifier.
        var authorize = HttpUtility.ParseQueryString(new Uri(tab.ConnectRequests.First(r => new Uri(r.Url).AbsolutePath == "/connect/authorize").Url).Query);
        Assert.Equal(("code", "S256", 43), (authorize["response_type"], authorize["code_challenge_method"], authorize["code_challenge"]!.Length));
        var token = HttpUtility.ParseQueryString(tab.ConnectRequests.Single(r => new Uri(r.Url).AbsolutePath == "/connect/token").Body!);
        Assert.Equal("authorization_code", token["grant_type"]);
        Assert.Equal(43, token["code_verifier"]!.Length);

        var shown = await page.Locator("[data-signed-in]").InnerTextAsync();
        Assert.Equal(role, await page.Locator("[data-signed-in]").GetAttributeAsync("data-role"));
        switch (role)
        {
            case Names.Roles.Sme:
                Assert.Equal($"企业 · {id}", shown);
                await page.Locator($"#tenant:has-text('{name}')").WaitForAsync();
                Assert.DoesNotContain(otherName!, await page.Locator("main").InnerTextAsync(), StringComparison.Ordinal);
                break;
            case Names.Roles.Provider:
                Assert.Equal($"算力服务商 · {id}", shown);
                await page.Locator($"#provider:has-text('{name}')").WaitForAsync();
                Assert.DoesNotContain(otherName!, await page.Locator("main").InnerTextAsync(), StringComparison.Ordinal);
                break;
            default:
                Assert.Equal($"{(role == Names.Roles.Admin ? "管理员" : "监管机构")} · 项目办公室", shown);
                break;
        }
        if (otherId is not null)
        {
            Assert.DoesNotContain(otherId, await page.Locator("body").InnerTextAsync(), StringComparison.Ordinal);
        }

        // Signing out ends the session here and at the provider: the console asks for a sign-in, and that asks for the password.
        await SignOutAsync(page);
        await page.GotoAsync(BrowserFixture.HomeOf(role));
        await page.WaitForURLAsync("**/login.html");
        Assert.Null(await page.EvaluateAsync<string?>("() => sessionStorage.getItem('marketplace.session')"));
        await page.ClickAsync("#account-sign-in");
        await page.WaitForURLAsync("**/account/login?**");
        Assert.Empty(tab.Errors);
    }

    /// <summary>
    /// Signs out: waits for the provider's answer itself (it clears the sign-in cookie), then for the page it sends the
    /// browser to, checked in the page (a wait for a URL with a load state hangs when that page has already committed).
    /// </summary>
    private static async Task SignOutAsync(IPage page)
    {
        var ended = await page.RunAndWaitForResponseAsync(() => page.ClickAsync("[data-sign-out]"), r => new Uri(r.Url).AbsolutePath == "/connect/endsession");
        Assert.Equal(302, ended.Status);
        await page.WaitForFunctionAsync("() => location.pathname === '/' || location.pathname === '/index.html'", null,
            new PageWaitForFunctionOptions { PollingInterval = 100 });
    }

    private async Task<(string?, string?, string?, string?)> TwoTenantsAsync()
    {
        var (id, client, _) = await fixture.Market.TenantAsync("Beijing", DemoMarket.BeijingProgram);
        var (otherId, other, _) = await fixture.Market.TenantAsync("Shanghai", DemoMarket.ShanghaiProgram);
        client.Dispose();
        other.Dispose();
        return (id, $"Beijing AI Lab {id[^4..]}", otherId, $"Shanghai AI Lab {otherId[^4..]}");
    }

    private async Task<(string?, string?, string?, string?)> TwoProvidersAsync()
    {
        var id = Scenario.Unique("prov");
        using (var client = await fixture.System.ClientAsync(Names.Roles.Provider, providerId: id))
        {
            await DemoMarket.Ok(MarketSeed.RegisterProviderAsync(client, "Qinghai"));
        }
        await MarketSeed.VerifyAsync(fixture.System, "providers", id);
        // Another provider of the demo market, with its own name.
        return (id, "Qinghai Compute", fixture.Market.ProviderIds[0], $"{DemoMarket.Sites[0].City} Intelligent Computing Center");
    }
}
