using Marketplace.Testing;
using Microsoft.Playwright;
using Xunit;

namespace Marketplace.Browser.Tests;

/// <summary>
/// The sign-in page's defences in Chromium: a second factor (an authenticator app's code after the password), and the
/// lockout after repeated wrong passwords.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class SecondFactorTests(BrowserFixture fixture)
{
    private const string Password = "browser-test-password";

    private Task<string> RegisterAsync() => fixture.RegisterConfirmedAsync(Password);

    /// <summary>A tab of a browser context of its own (close its context when done).</summary>
    private async Task<IPage> NewPageAsync()
    {
        var context = await fixture.Browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = fixture.System.WebUrl.ToString(), Locale = "zh-CN" });
        var page = await context.NewPageAsync();
        page.SetDefaultTimeout(BrowserFixture.Wait);
        return page;
    }

    /// <summary>Submits a form and answers the status of its answer (the page it renders is then loaded).</summary>
    private static async Task<int> SubmitAsync(IPage page, string button, string path)
    {
        var answer = await page.RunAndWaitForResponseAsync(() => page.ClickAsync(button),
            r => r.Request.Method == "POST" && new Uri(r.Url).AbsolutePath == path);
        await page.WaitForLoadStateAsync(LoadState.DOMContentLoaded);
        return answer.Status;
    }

    private static async Task EnterPasswordAsync(IPage page, string email, string password)
    {
        await page.GetByLabel("邮箱 Email").FillAsync(email);
        await page.GetByLabel("密码 Password").FillAsync(password);
    }

    [Fact]
    public async Task Second_factor_turned_on_in_the_browser_is_asked_for_after_the_password_and_a_wrong_code_is_refused()
    {
        var email = await RegisterAsync();
        var page = await NewPageAsync();
        try
        {
            // Not signed in: the second factor's page sends the browser to sign in first, and back.
            await page.GotoAsync("/account/two-factor");
            await page.WaitForURLAsync("**/account/login?**");
            await EnterPasswordAsync(page, email, Password);
            await page.ClickAsync("#sign-in");
            await page.WaitForURLAsync("**/account/two-factor");

            // The key, as text and as an otpauth:// URI; a code from it turns the factor on.
            var key = (await page.Locator("#authenticator-key").TextContentAsync())!.Replace(" ", "", StringComparison.Ordinal);
            var uri = await page.Locator("#authenticator-uri").GetAttributeAsync("href");
            Assert.StartsWith("otpauth://totp/", uri);
            Assert.Contains($"secret={key}", uri);
            // The code is computed for the current step right before it is typed; the marketplace, as Identity, also takes
            // the steps just before and after, so a step that ends while the form is sent does not matter.
            await page.GetByLabel("验证码 Code").FillAsync(Totp.Now(key));
            Assert.Equal(200, await SubmitAsync(page, "#confirm", "/account/two-factor"));
            await page.Locator("[data-two-factor='on']").WaitForAsync();

            // Signing out ends the session (the request shares the tab's cookies).
            var signedOut = await page.Context.APIRequest.GetAsync("/connect/endsession", new APIRequestContextOptions { MaxRedirects = 0 });
            Assert.Equal(302, signedOut.Status);

            // Signing in again: the password, then the code (Chinese first).
            await page.GotoAsync("/account/two-factor");
            await page.WaitForURLAsync("**/account/login?**");
            await EnterPasswordAsync(page, email, Password);
            Assert.Equal(200, await SubmitAsync(page, "#sign-in", "/account/login"));
            await page.Locator("#code-form").WaitForAsync();
            Assert.Equal("zh-CN", await page.GetAttributeAsync("html", "lang"));
            Assert.StartsWith("双重验证", await page.Locator("h1").TextContentAsync());

            // A wrong code is refused, and the page asks again.
            await page.GetByLabel("验证码 Code").FillAsync(Totp.Wrong(key));
            Assert.Equal(401, await SubmitAsync(page, "#verify", "/account/login/code"));
            await page.Locator("#problem:has-text('验证码不正确')").WaitForAsync();

            // The right one signs in, back where the sign-in was asked for.
            await page.GetByLabel("验证码 Code").FillAsync(Totp.Now(key));
            await page.ClickAsync("#verify");
            await page.WaitForURLAsync("**/account/two-factor");
            await page.Locator("[data-two-factor='on']").WaitForAsync();
        }
        finally
        {
            await page.Context.CloseAsync();
        }
    }

    [Fact]
    public async Task Five_wrong_passwords_lock_the_account_and_the_right_password_is_then_refused()
    {
        var email = await RegisterAsync();
        var page = await NewPageAsync();
        try
        {
            await page.GotoAsync("/account/login");
            for (var attempt = 1; attempt <= 5; attempt++)
            {
                await EnterPasswordAsync(page, email, $"wrong-password-{attempt}");
                Assert.Equal(401, await SubmitAsync(page, "#sign-in", "/account/login"));
                await page.Locator("#problem:has-text('邮箱或密码不正确')").WaitForAsync();
            }

            // Locked: the right password is answered as a wrong one (the page never tells that an account is locked).
            await EnterPasswordAsync(page, email, Password);
            Assert.Equal(401, await SubmitAsync(page, "#sign-in", "/account/login"));
            await page.Locator("#problem:has-text('邮箱或密码不正确')").WaitForAsync();
            Assert.Equal("/account/login", new Uri(page.Url).AbsolutePath);
            Assert.True(await fixture.System.Database.ScalarAsync<bool>(
                """SELECT "LockoutEnd" > now() FROM account_users WHERE "NormalizedEmail" = upper(@e)""", ("e", email)));
        }
        finally
        {
            await page.Context.CloseAsync();
        }
    }
}
