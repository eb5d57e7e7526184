using System.Globalization;
using System.Security.Claims;
using System.Text.Encodings.Web;
using System.Text.Unicode;
using Marketplace.Web.Infrastructure;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc;

namespace Marketplace.Web.Accounts;

/// <summary>
/// The sign-in page the authorization endpoint sends people to (Chinese first, English second): the password, then, for
/// an account with a second factor, the authenticator's code. Every attempt, password or code, counts toward lockout
/// before it is checked (<see cref="SignInAttempts"/>): after <see cref="AccountsSetup.MaxFailedSignIns"/> without a
/// complete sign-in the account is locked for <see cref="AccountsSetup.LockoutDuration"/>.
/// An unknown email, a wrong password and a locked account get the same answer, after the same work (a password hash is
/// checked for each). That an account is locked is never told, not even after its right password: an attacker could
/// otherwise go on guessing during the lockout and learn the password from the different answer. The audit trail, which
/// only operators read, tells them apart.
/// </summary>
internal static class SignInPage
{
    public const string Path = "/account/login";
    public const string CodePath = "/account/login/code";

    private const string Refused = "邮箱或密码不正确，或账户因多次登录失败已被暂时锁定，请稍后再试。 " +
        "The email or password is wrong, or the account is locked for a while after repeated failures.";

    private const string CodeRefused = "验证码不正确，或账户因多次登录失败已被暂时锁定，请稍后再试。 " +
        "The code is wrong, or the account is locked for a while after repeated failures.";

    internal const int MaxCodeLength = 16;

    /// <summary>An authenticator code as typed (spaces and dashes dropped), or null when it cannot be one.</summary>
    internal static string? CodeDigits(string? code) =>
        code?.Replace(" ", "", StringComparison.Ordinal).Replace("-", "", StringComparison.Ordinal) is { Length: > 0 and <= MaxCodeLength } digits ? digits : null;

    // Chinese text stays as it is; only what HTML gives meaning to is escaped.
    private static readonly HtmlEncoder Html = HtmlEncoder.Create(UnicodeRanges.All);

    public static WebApplication MapSignIn(this WebApplication app)
    {
        app.MapGet(Path, (HttpContext context, IAntiforgery antiforgery, [FromQuery(Name = "ReturnUrl")] string? returnUrl) =>
            PasswordForm(context, antiforgery, LocalOrNull(returnUrl), email: null, error: null)).ExcludeFromDescription();
        app.MapPost(Path, SignIn).ExcludeFromDescription();
        app.MapPost(CodePath, SignInWithCode).ExcludeFromDescription();
        return app;
    }

    /// <summary>The lockout a right password set when it was the attempt that reached the limit (kept in the pending sign-in).</summary>
    private const string OwnLockoutClaim = "own_lockout";

    private static async Task<IResult> SignIn(HttpContext context, IAntiforgery antiforgery, SignInManager<MarketplaceUser> signIn, SignInAttempts attempts,
        AccountMail mail, OidcSettings oidc, AuditLog audit, [FromKeyedServices(Names.ClockKeys.Market)] TimeProvider clock,
        [FromForm] string? email, [FromForm] string? password, [FromForm] string? returnUrl)
    {
        var target = LocalOrNull(returnUrl);
        if (string.IsNullOrWhiteSpace(email) || string.IsNullOrEmpty(password) || email.Length > 256 || password.Length > 256)
        {
            return PasswordForm(context, antiforgery, target, email, "请输入邮箱和密码。 Enter your email and password.", StatusCodes.Status400BadRequest);
        }
        var user = await signIn.UserManager.FindByEmailAsync(email);
        var attempt = await attempts.CountAsync(user?.Id, context.RequestAborted);
        if (!attempts.PasswordMatches(user, attempt, password))
        {
            var (outcome, reason) = CountedAttempt.Refused(attempt, "wrong password", "no account has this email");
            Audit(context, audit, clock, user?.Id, outcome, $"sign-in {outcome} for {Check.Trim(email)}: {reason}");
            return PasswordForm(context, antiforgery, target, email, Refused, StatusCodes.Status401Unauthorized);
        }
        if (!user!.EmailConfirmed)
        {
            // The right password of an account whose address is unconfirmed: answered as a wrong one (else a registration
            // followed by a sign-in would tell whether the address was free), and the link is mailed again, to the address only.
            // The attempt stays counted, as a wrong password's does.
            await AddressConfirmation.MailLinkAsync(signIn.UserManager, mail, oidc, user);
            Audit(context, audit, clock, user.Id, "failed", $"sign-in failed for {Check.Trim(email)}: the address is not confirmed; the confirmation link was mailed again");
            return PasswordForm(context, antiforgery, target, email, Refused, StatusCodes.Status401Unauthorized);
        }
        if (user.TwoFactorEnabled)
        {
            // The password stays counted until the code is right too, so that a known password does not buy endless code guesses.
            var pending = new ClaimsIdentity([new Claim(Names.Claims.Subject, user.Id)], IdentityConstants.TwoFactorUserIdScheme);
            if (attempt!.LockedUntil is { } own)
            {
                // This right password locked the account: it earns one code attempt (SignInAttempts.LastChanceAsync).
                pending.AddClaim(new Claim(OwnLockoutClaim, own.ToString("O", CultureInfo.InvariantCulture)));
            }
            await context.SignInAsync(IdentityConstants.TwoFactorUserIdScheme, new ClaimsPrincipal(pending));
            return CodeForm(context, antiforgery, target, error: null);
        }
        return await CompleteAsync(context, antiforgery, signIn, attempts, audit, clock, user, attempt!, target, "pwd");
    }

    private static async Task<IResult> SignInWithCode(HttpContext context, IAntiforgery antiforgery, SignInManager<MarketplaceUser> signIn,
        SignInAttempts attempts, AuditLog audit, [FromKeyedServices(Names.ClockKeys.Market)] TimeProvider clock,
        [FromForm] string? code, [FromForm] string? returnUrl)
    {
        var target = LocalOrNull(returnUrl);
        var pending = await context.AuthenticateAsync(IdentityConstants.TwoFactorUserIdScheme);
        if (pending.Principal?.FindFirstValue(Names.Claims.Subject) is not { } userId)
        {
            return PasswordForm(context, antiforgery, target, email: null, "登录已超时，请重新输入密码。 The sign-in timed out: enter your password again.",
                StatusCodes.Status401Unauthorized);
        }
        if (CodeDigits(code) is not { } digits)
        {
            return CodeForm(context, antiforgery, target, "请输入 6 位验证码。 Enter the 6-digit code.", StatusCodes.Status400BadRequest);
        }
        var user = await signIn.UserManager.FindByIdAsync(userId);
        var attempt = user is not null && pending.Principal.FindFirstValue(OwnLockoutClaim) is { } own
            ? await attempts.LastChanceAsync(user.Id, DateTimeOffset.Parse(own, CultureInfo.InvariantCulture), context.RequestAborted)
            : await attempts.CountAsync(user?.Id, context.RequestAborted);
        var right = user is not null && attempt is { WasLocked: false }
            && await signIn.UserManager.VerifyTwoFactorTokenAsync(user, signIn.Options.Tokens.AuthenticatorTokenProvider, digits)
            && await attempts.UseCodeAsync(user.Id, digits, context.RequestAborted);
        if (!right)
        {
            var (outcome, reason) = CountedAttempt.Refused(attempt, "wrong code", "the account no longer exists");
            Audit(context, audit, clock, userId, outcome, $"second factor {outcome} for {Check.Trim(user?.Email ?? userId)}: {reason}");
            return CodeForm(context, antiforgery, target, CodeRefused, StatusCodes.Status401Unauthorized);
        }
        await context.SignOutAsync(IdentityConstants.TwoFactorUserIdScheme);
        return await CompleteAsync(context, antiforgery, signIn, attempts, audit, clock, user!, attempt!, target, "mfa");
    }

    /// <summary>Everything asked was right: the count starts again and the sign-in session begins, unless other attempts locked the account meanwhile.</summary>
    private static async Task<IResult> CompleteAsync(HttpContext context, IAntiforgery antiforgery, SignInManager<MarketplaceUser> signIn,
        SignInAttempts attempts, AuditLog audit, TimeProvider clock, MarketplaceUser user, CountedAttempt attempt, string? target, string method)
    {
        if (!await attempts.SucceededAsync(user.Id, attempt, context.RequestAborted))
        {
            Audit(context, audit, clock, user.Id, "locked-out", $"sign-in locked-out for {Check.Trim(user.Email ?? user.Id)}: the account was locked meanwhile");
            return PasswordForm(context, antiforgery, target, user.Email, Refused, StatusCodes.Status401Unauthorized);
        }
        await signIn.SignInAsync(user, isPersistent: false, authenticationMethod: method);
        return Results.LocalRedirect(target ?? "/");
    }

    private static void Audit(HttpContext context, AuditLog audit, TimeProvider clock, string? userId, string outcome, string detail) =>
        audit.Record(new AuditEntry(clock.GetUtcNow(), userId ?? "unknown-account", "anonymous", $"POST {context.Request.Path}", "sign-in", outcome,
            StatusCodes.Status401Unauthorized, detail, RequestOrigin.Of(context)));

    /// <summary>
    /// Only a path on this site: a sign-in page that redirects anywhere would send people to a look-alike. Printable ASCII
    /// only (a browser drops a tab or a line break, so "/\t/evil.example" would leave the site; a redirect cannot carry
    /// other characters), and never "//" or "/\" at the start.
    /// </summary>
    internal static string? LocalOrNull(string? url) =>
        url is { Length: > 0 and <= 2048 } && url[0] == '/' && (url.Length == 1 || url[1] is not ('/' or '\\')) && url.All(c => c is > ' ' and < '\u007f')
            ? url
            : null;

    private static IResult PasswordForm(HttpContext context, IAntiforgery antiforgery, string? returnUrl, string? email, string? error,
        int status = StatusCodes.Status200OK) =>
        Render(context, antiforgery, "登录 · Sign in", "登录 <span lang=\"en\">Sign in</span>", error, status, tokens => $"""
            <form id="sign-in-form" class="card form" method="post" action="{Path}">
              {tokens}
              <input type="hidden" name="returnUrl" value="{Html.Encode(returnUrl ?? "")}">
              <label for="email">邮箱 <span lang="en">Email</span></label>
              <input id="email" name="email" type="email" autocomplete="username" required maxlength="256" value="{Html.Encode(email ?? "")}">
              <label for="password">密码 <span lang="en">Password</span></label>
              <input id="password" name="password" type="password" autocomplete="current-password" required maxlength="256">
              <button type="submit" id="sign-in">登录 <span lang="en">Sign in</span></button>
              <p id="confirm-hint" class="lead">新注册的账户须先打开确认邮件中的链接，然后才能登录。 <span lang="en">A new account signs in once its address is confirmed: open the link in the mail sent when you registered.</span></p>
            </form>
            """);

    private static IResult CodeForm(HttpContext context, IAntiforgery antiforgery, string? returnUrl, string? error, int status = StatusCodes.Status200OK) =>
        Render(context, antiforgery, "双重验证 · Two-factor sign-in", "双重验证 <span lang=\"en\">Two-factor sign-in</span>", error, status, tokens => $"""
            <form id="code-form" class="card form" method="post" action="{CodePath}">
              {tokens}
              <input type="hidden" name="returnUrl" value="{Html.Encode(returnUrl ?? "")}">
              <p>请输入身份验证器应用显示的 6 位验证码。 <span lang="en">Enter the 6-digit code your authenticator app shows.</span></p>
              <label for="code">验证码 <span lang="en">Code</span></label>
              <input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" required maxlength="{MaxCodeLength}" autofocus>
              <button type="submit" id="verify">验证 <span lang="en">Verify</span></button>
            </form>
            """);

    /// <summary>
    /// An account page: the site's header, a title and a heading (HTML), the problem if there is one, and a form (given the antiforgery field
    /// to carry). Shared by the sign-in and second-factor pages.
    /// </summary>
    internal static IResult Render(HttpContext context, IAntiforgery antiforgery, string title, string heading, string? error, int status, Func<string, string> form)
    {
        var tokens = antiforgery.GetAndStoreTokens(context);
        var field = $"""<input type="hidden" name="{Html.Encode(tokens.FormFieldName)}" value="{Html.Encode(tokens.RequestToken ?? "")}">""";
        var problem = error is null ? "" : $"""<div id="problem" class="problem" role="alert">{Html.Encode(error)}</div>""";
        var body = $"""
            <!doctype html>
            <html lang="zh-CN">
            <head>
              <meta charset="utf-8">
              <meta name="viewport" content="width=device-width, initial-scale=1">
              <title>{Html.Encode(title)} · 算力券交易平台</title>
              <link rel="icon" href="/favicon.svg" type="image/svg+xml">
              <link rel="stylesheet" href="/css/site.css">
            </head>
            <body>
              <header class="top"><a class="brand" href="/">算力券交易平台 <span lang="en">Compute Voucher Marketplace</span></a></header>
              <main class="narrow">
                <h1>{heading}</h1>
                {problem}
                {form(field)}
              </main>
            </body>
            </html>
            """;
        return Results.Content(body, "text/html; charset=utf-8", statusCode: status);
    }

    internal static string Encode(string text) => Html.Encode(text);
}
