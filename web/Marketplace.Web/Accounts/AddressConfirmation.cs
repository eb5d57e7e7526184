using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Identity;

namespace Marketplace.Web.Accounts;

/// <summary>
/// The confirmation of a self-registered account's address. Registration answers everyone alike, so signing in was the
/// way left to learn whether an address had an account (a password that worked meant the address had been free): an
/// account made without an admin therefore signs in only once its address is confirmed through the link mailed to it
/// (Identity's email confirmation token). Until then its sign-in is refused as a wrong password is, and the link is
/// mailed again. Accounts an admin makes, and the seeded ones, are confirmed when they are made.
/// </summary>
internal static class AddressConfirmation
{
    public const string Path = "/account/confirm";

    public static WebApplication MapAddressConfirmation(this WebApplication app)
    {
        app.MapGet(Path, Confirm).ExcludeFromDescription();
        return app;
    }

    /// <summary>Mails the account its confirmation link (a new token each time; each stays valid until the account's stamp changes or a day has passed).</summary>
    public static async Task MailLinkAsync(UserManager<MarketplaceUser> users, AccountMail mail, OidcSettings oidc, MarketplaceUser user)
    {
        var code = await users.GenerateEmailConfirmationTokenAsync(user);
        var link = new Uri(new Uri(oidc.Issuer), $"{Path.TrimStart('/')}?user={Uri.EscapeDataString(user.Id)}&code={Uri.EscapeDataString(code)}");
        mail.ConfirmAddress(user.Email!, user.Role, link.AbsoluteUri);
    }

    private static async Task<IResult> Confirm(HttpContext context, IAntiforgery antiforgery, UserManager<MarketplaceUser> users, string? user, string? code)
    {
        var account = user is { Length: > 0 and <= 64 } && code is { Length: > 0 and <= 2048 } ? await users.FindByIdAsync(user) : null;
        if (account is null || !(await users.ConfirmEmailAsync(account, code!)).Succeeded)
        {
            return Page(context, antiforgery, "链接无效或已过期。请用邮箱和密码登录一次，系统会重新发送确认邮件。 " +
                "The link is not valid or has expired. Sign in once with your email and password: a new confirmation mail is sent.",
                StatusCodes.Status400BadRequest);
        }
        return Page(context, antiforgery, null, StatusCodes.Status200OK);
    }

    private static IResult Page(HttpContext context, IAntiforgery antiforgery, string? error, int status) =>
        SignInPage.Render(context, antiforgery, "确认邮箱 · Confirm your address", "确认邮箱 <span lang=\"en\">Confirm your address</span>", error, status,
            _ => error is null
                ? """
                  <p id="confirmed" class="card">邮箱已确认，现在可以登录。 <span lang="en">Your address is confirmed: you can sign in now.</span></p>
                  <p><a id="to-sign-in" href="/login.html">登录 <span lang="en">Sign in</span></a></p>
                  """
                : """<p><a id="to-sign-in" href="/login.html">登录 <span lang="en">Sign in</span></a></p>""");
}
