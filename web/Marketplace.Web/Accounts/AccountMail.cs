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

    /// <summary>
    /// The link that confirms the address of a new account: it cannot sign in before (see <see cref="AddressConfirmation"/>).
    /// Sent at registration, and again at each sign-in with the right password while the address is unconfirmed.
    /// </summary>
    public void ConfirmAddress(string to, string role, string link) => Send(to, "算力券交易平台：请确认您的邮箱 Confirm your address",
        $"您的{role}账户已创建。请打开此链接确认邮箱，确认后即可用注册时的密码登录： {link} " +
        $"Your {role} account has been made. Open this link to confirm your address, then sign in with the password you registered with: {link}");

    public void AlreadyRegistered(string to) => Send(to, "算力券交易平台：此邮箱已有账户 You already have an account",
        "有人用此邮箱申请注册，但此邮箱已有账户：请直接登录。如非本人操作，可忽略此邮件。 " +
        "Someone asked to register this address, but you already have an account: sign in with it. If it was not you, nothing has changed.");
}
