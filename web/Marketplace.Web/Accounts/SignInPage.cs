using System.Text.Encodings.Web;
using System.Text.Unicode;
using Marketplace.Web.Infrastructure;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc;

namespace Marketplace.Web.Accounts;

/// <summary>
/// The sign-in page the authorization endpoint sends people to (Chinese first, English second). A failure is on the
/// audit trail; after <see cref="AccountsSetup.MaxFailedSignIns"/> failures in a row the account is locked for
/// <see cref="AccountsSetup.LockoutDuration"/>.
/// </summary>
internal static class SignInPage
{
    public const string Path = "/account/login";

    // Chinese text stays as it is; only what HTML gives meaning to is escaped.
    private static readonly HtmlEncoder Html = HtmlEncoder.Create(UnicodeRanges.All);

    public static WebApplication MapSignIn(this WebApplication app)
    {
        app.MapGet(Path, (HttpContext context, IAntiforgery antiforgery, [FromQuery(Name = "ReturnUrl")] string? returnUrl) =>
            Page(context, antiforgery, LocalOrNull(returnUrl), email: null, error: null)).ExcludeFromDescription();
        app.MapPost(Path, SignIn).ExcludeFromDescription();
        return app;
    }

    private static async Task<IResult> SignIn(HttpContext context, IAntiforgery antiforgery, SignInManager<MarketplaceUser> signIn, AuditLog audit,
        [FromKeyedServices(Names.ClockKeys.Market)] TimeProvider clock,
        [FromForm] string? email, [FromForm] string? password, [FromForm] string? returnUrl)
    {
        var target = LocalOrNull(returnUrl);
        if (string.IsNullOrWhiteSpace(email) || string.IsNullOrEmpty(password) || email.Length > 256 || password.Length > 256)
        {
            return Page(context, antiforgery, target, email, "请输入邮箱和密码。 Enter your email and password.", StatusCodes.Status400BadRequest);
        }
        var user = await signIn.UserManager.FindByEmailAsync(email);
        var result = user is null
            ? Microsoft.AspNetCore.Identity.SignInResult.Failed
            : await signIn.PasswordSignInAsync(user, password, isPersistent: false, lockoutOnFailure: true);
        if (result.Succeeded)
        {
            return Results.LocalRedirect(target ?? "/");
        }
        var outcome = result.IsLockedOut ? "locked-out" : "failed";
        audit.Record(new AuditEntry(clock.GetUtcNow(), user?.Id ?? "unknown-account", "anonymous", $"POST {Path}", "sign-in", outcome,
            StatusCodes.Status401Unauthorized, $"sign-in {outcome} for {Check.Trim(email)}", RequestOrigin.Of(context)));
        return result.IsLockedOut
            ? Page(context, antiforgery, target, email, "账户因多次登录失败已被暂时锁定，请稍后再试。 The account is locked after repeated failures; try again later.",
                StatusCodes.Status423Locked)
            : Page(context, antiforgery, target, email, "邮箱或密码不正确。 The email or password is wrong.", StatusCodes.Status401Unauthorized);
    }

    /// <summary>
    /// Only a path on this site: a sign-in page that redirects anywhere would send people to a look-alike. Printable ASCII
    /// only (a browser drops a tab or a line break, so "/\t/evil.example" would leave the site; a redirect cannot carry
    /// other characters), and never "//" or "/\" at the start.
    /// </summary>
    internal static string? LocalOrNull(string? url) =>
        url is { Length: > 0 and <= 2048 } && url[0] == '/' && (url.Length == 1 || url[1] is not ('/' or '\\')) && url.All(c => c is > ' ' and < '\u007f')
            ? url
            : null;

    private static IResult Page(HttpContext context, IAntiforgery antiforgery, string? returnUrl, string? email, string? error, int status = StatusCodes.Status200OK)
    {
        var tokens = antiforgery.GetAndStoreTokens(context);
        var html = Html;
        var problem = error is null ? "" : $"""<div id="problem" class="problem" role="alert">{html.Encode(error)}</div>""";
        var body = $"""
            <!doctype html>
            <html lang="zh-CN">
            <head>
              <meta charset="utf-8">
              <meta name="viewport" content="width=device-width, initial-scale=1">
              <title>登录 · Sign in · 算力券交易平台</title>
              <link rel="icon" href="/favicon.svg" type="image/svg+xml">
              <link rel="stylesheet" href="/css/site.css">
            </head>
            <body>
              <header class="top"><a class="brand" href="/">算力券交易平台 <span lang="en">Compute Voucher Marketplace</span></a></header>
              <main class="narrow">
                <h1>登录 <span lang="en">Sign in</span></h1>
                {problem}
                <form id="sign-in-form" class="card form" method="post" action="{Path}">
                  <input type="hidden" name="{html.Encode(tokens.FormFieldName)}" value="{html.Encode(tokens.RequestToken ?? "")}">
                  <input type="hidden" name="returnUrl" value="{html.Encode(returnUrl ?? "")}">
                  <label for="email">邮箱 <span lang="en">Email</span></label>
                  <input id="email" name="email" type="email" autocomplete="username" required maxlength="256" value="{html.Encode(email ?? "")}">
                  <label for="password">密码 <span lang="en">Password</span></label>
                  <input id="password" name="password" type="password" autocomplete="current-password" required maxlength="256">
                  <button type="submit" id="sign-in">登录 <span lang="en">Sign in</span></button>
                </form>
              </main>
            </body>
            </html>
            """;
        return Results.Content(body, "text/html; charset=utf-8", statusCode: status);
    }
}
