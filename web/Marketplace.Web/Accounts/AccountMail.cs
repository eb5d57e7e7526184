namespace Marketplace.Web.Accounts;

/// <summary>
/// What the marketplace tells the owner of an email address (a new account, a registration for an address that has one).
/// Registration answers everyone alike, so whether an address has an account is told here, to the address only. No mail
/// gateway is configured: each message is written to the log (category Marketplace.Web.Accounts.AccountMail), which is
/// where a developer reads it; a deployment that sends mail puts its gateway in this class's place.
/// </summary>
internal sealed class AccountMail(ILogger<AccountMail> logger)
{
    public void Send(string to, string subject, string text) =>
        logger.LogInformation("Mail to {To}: {Subject}. {Text}", to, subject, text);

    public void AccountOpened(string to, string role) => Send(to, "算力券交易平台：账户已开通 Your marketplace account is open",
        $"您的{role}账户已开通，请用注册时的密码登录。 Your {role} account is open: sign in with the password you registered with.");

    public void AlreadyRegistered(string to) => Send(to, "算力券交易平台：此邮箱已有账户 You already have an account",
        "有人用此邮箱申请注册，但此邮箱已有账户：请直接登录。如非本人操作，可忽略此邮件。 " +
        "Someone asked to register this address, but you already have an account: sign in with it. If it was not you, nothing has changed.");
}
