using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;

namespace Marketplace.Web.Accounts;

/// <summary>
/// Where a signed-in person turns on a second factor: an authenticator app's key (Identity's authenticator key, shown as
/// text and as an otpauth:// URI), confirmed with a code from the app. From then on the sign-in page asks for a code after
/// the password. The page belongs to the sign-in session (the cookie of <see cref="SignInPage"/>), not to an API token.
/// There is no recovery path: a person who loses the app asks an admin (who can only replace the account today).
/// </summary>
internal static class SecondFactorPage
{
    public const string Path = "/account/two-factor";

    /// <summary>The name authenticator apps show for the marketplace's entry.</summary>
    private const string Issuer = "Compute Voucher Marketplace";

    public static WebApplication MapSecondFactor(this WebApplication app)
    {
        app.MapGet(Path, Show).ExcludeFromDescription();
        app.MapPost(Path, Confirm).ExcludeFromDescription();
        return app;
    }

    private static async Task<IResult> Show(HttpContext context, IAntiforgery antiforgery, UserManager<MarketplaceUser> users, IUserStore<MarketplaceUser> store)
    {
        if (await SignedInAsync(context, users) is not { } user)
        {
            return SignInFirst();
        }
        if (user.TwoFactorEnabled)
        {
            return On(context, antiforgery);
        }
        if (await users.GetAuthenticatorKeyAsync(user) is not { } key)
        {
            // Stored without a new security stamp (UserManager.ResetAuthenticatorKeyAsync would make one, and end the
            // account's tokens for merely opening this page); turning the factor on makes one.
            key = users.GenerateNewAuthenticatorKey();
            await ((IUserAuthenticatorKeyStore<MarketplaceUser>)store).SetAuthenticatorKeyAsync(user, key, context.RequestAborted);
            try
            {
                if (!(await users.UpdateAsync(user)).Succeeded)
                {
                    // The account changed meanwhile (its sign-in count, say): the key was not stored; make one again.
                    return Results.Redirect(Path);
                }
            }
            catch (DbUpdateException)
            {
                // Another request made the key a moment ago: show the one it stored.
                return Results.Redirect(Path);
            }
        }
        return Setup(context, antiforgery, user, key, error: null);
    }

    private static async Task<IResult> Confirm(HttpContext context, IAntiforgery antiforgery, UserManager<MarketplaceUser> users,
        SignInManager<MarketplaceUser> signIn, AccountStamps stamps,
        [FromForm] string? code)
    {
        if (await SignedInAsync(context, users) is not { } user)
        {
            return SignInFirst();
        }
        if (user.TwoFactorEnabled)
        {
            return On(context, antiforgery);
        }
        if (await users.GetAuthenticatorKeyAsync(user) is not { } key)
        {
            return Results.Redirect(Path);
        }
        if (SignInPage.CodeDigits(code) is not { } digits
            || !await users.VerifyTwoFactorTokenAsync(user, users.Options.Tokens.AuthenticatorTokenProvider, digits))
        {
            return Setup(context, antiforgery, user, key, "验证码不正确，请用应用中当前的验证码再试。 The code is wrong: try the one the app shows now.",
                StatusCodes.Status400BadRequest);
        }
        // A new security stamp comes with it: the account's tokens from before are refused (AccountStamps).
        var enabled = await users.SetTwoFactorEnabledAsync(user, true);
        if (!enabled.Succeeded)
        {
            return Setup(context, antiforgery, user, key, "账户刚被修改，请再试一次。 The account changed meanwhile: try again.", StatusCodes.Status409Conflict);
        }
        stamps.Forget(user.Id);
        // The new stamp would end this browser's own sign-in session too: it is renewed under the new stamp (the person
        // here has just proved the password and the authenticator); sessions elsewhere end.
        await signIn.RefreshSignInAsync(user);
        return On(context, antiforgery);
    }

    /// <summary>The signed-in person of this browser, unless the account has been locked since.</summary>
    private static async Task<MarketplaceUser?> SignedInAsync(HttpContext context, UserManager<MarketplaceUser> users)
    {
        var session = await context.AuthenticateAsync(IdentityConstants.ApplicationScheme);
        var user = session.Succeeded ? await users.GetUserAsync(session.Principal) : null;
        return user is null || await users.IsLockedOutAsync(user) ? null : user;
    }

    private static IResult SignInFirst() =>
        Results.Challenge(new AuthenticationProperties { RedirectUri = Path }, [IdentityConstants.ApplicationScheme]);

    private static IResult Setup(HttpContext context, IAntiforgery antiforgery, MarketplaceUser user, string key, string? error,
        int status = StatusCodes.Status200OK)
    {
        var grouped = string.Join(' ', key.Chunk(4).Select(c => new string(c)));
        var uri = $"otpauth://totp/{Uri.EscapeDataString(Issuer)}:{Uri.EscapeDataString(user.Email ?? user.Id)}" +
            $"?secret={key}&issuer={Uri.EscapeDataString(Issuer)}&digits=6";
        return SignInPage.Render(context, antiforgery, "双重验证 · Two-factor sign-in", "开启双重验证 <span lang=\"en\">Turn on two-factor sign-in</span>", error, status,
            tokens => $"""
                <form id="two-factor-form" class="card form" method="post" action="{Path}" data-two-factor="off">
                  {tokens}
                  <p>在身份验证器应用中添加此密钥（或打开下面的链接），然后输入应用显示的 6 位验证码。 <span lang="en">Add this key to an authenticator app (or open the link below), then enter the 6-digit code it shows.</span></p>
                  <p>密钥 <span lang="en">Key</span>: <code id="authenticator-key">{SignInPage.Encode(grouped)}</code></p>
                  <p><a id="authenticator-uri" href="{SignInPage.Encode(uri)}">{SignInPage.Encode(uri)}</a></p>
                  <label for="code">验证码 <span lang="en">Code</span></label>
                  <input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" required maxlength="{SignInPage.MaxCodeLength}">
                  <button type="submit" id="confirm">开启 <span lang="en">Turn on</span></button>
                </form>
                """);
    }

    private static IResult On(HttpContext context, IAntiforgery antiforgery) =>
        SignInPage.Render(context, antiforgery, "双重验证 · Two-factor sign-in", "双重验证已开启 <span lang=\"en\">Two-factor sign-in is on</span>", null,
            StatusCodes.Status200OK, _ => """
                <p class="card" id="two-factor-on" data-two-factor="on">登录时，输入密码后还需输入身份验证器应用中的验证码。 <span lang="en">Signing in asks for your authenticator app's code after the password.</span></p>
                """);
}
