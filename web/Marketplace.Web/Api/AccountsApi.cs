using System.ComponentModel.DataAnnotations;
using Marketplace.Web.Accounts;
using Marketplace.Web.Infrastructure;
using Microsoft.AspNetCore.Identity;
using OpenIddict.Abstractions;

namespace Marketplace.Web.Api;

/// <summary>A new account: an email and password and, when an admin creates it, the role and organisation it acts for.</summary>
public sealed record AccountRequest([property: Required] string? Email, [property: Required] string? Password, [property: Required] string? Role,
    string? TenantId = null, string? ProviderId = null);

public sealed record AccountResponse(string Id, string Email, string Role, string? TenantId, string? ProviderId);

/// <summary>What anyone who registers is told, whether the email had an account or not: the rest goes to the address.</summary>
public sealed record RegistrationAccepted(string Status, string Detail)
{
    public static readonly RegistrationAccepted Answer = new("accepted",
        "已受理：结果已发至该邮箱。新账户请先打开邮件中的确认链接，再用邮箱和密码登录。 " +
        "Accepted: the address has been written to. A new account first opens the confirmation link in that mail, then signs in with the email and password.");
}

public sealed record RoleChange([property: Required] string? Role, string? TenantId = null, string? ProviderId = null);

public sealed record ApiClientRequest([property: Required] string? DisplayName, [property: Required] string? Role, string? TenantId = null, string? ProviderId = null);

/// <summary>A new API client's credentials; the secret is shown this once.</summary>
public sealed record ApiClientResponse(string ClientId, string ClientSecret, string Role, string? TenantId, string? ProviderId);

internal static class AccountsApi
{
    public static RouteGroupBuilder MapAccountsApi(this RouteGroupBuilder api)
    {
        api.MapPost("/accounts", Register)
            .AllowAnonymous()
            .WithTags("Accounts")
            .WithName("registerAccount")
            .WithSummary("Create an account: anyone for a new SME or provider organisation (202, the same answer whether the email had an account; " +
                "the address is told which), an admin for any role and organisation (201 with the account)")
            .Produces<RegistrationAccepted>(StatusCodes.Status202Accepted)
            .Produces<AccountResponse>(StatusCodes.Status201Created);
        api.MapPut("/accounts/{id}/role", ChangeRole)
            .RequireAuthorization(Names.Policies.Admin)
            .WithTags("Accounts")
            .WithName("changeAccountRole")
            .WithSummary("Change the role and organisation of an account (admin); its access tokens are refused from now on, its next token has the new role")
            .Produces<AccountResponse>();
        api.MapPost("/clients", CreateClient)
            .RequireAuthorization(Names.Policies.Admin)
            .WithTags("Accounts")
            .WithName("createApiClient")
            .WithSummary("Register an API client (client credentials) acting for one organisation and role (admin)")
            .Produces<ApiClientResponse>(StatusCodes.Status201Created);
        return api;
    }

    private static async Task<IResult> Register(AccountRequest request, AccountRegistration registration, UserManager<MarketplaceUser> users, AccountMail mail,
        OidcSettings oidc, AuditLog audit, HttpContext context,
        [FromKeyedServices(Names.ClockKeys.Market)] TimeProvider clock)
    {
        var caller = Caller.Of(context);
        var byAdmin = context.User.Identity?.IsAuthenticated == true && caller.Role == Names.Roles.Admin;
        var check = Check.Of(request).Length(request.Email, 3, 256, "email", required: false).Length(request.Password, 1, 256, "password", required: false);
        if (byAdmin)
        {
            AccountRegistration.CheckOrganisation(check, request.Role, request.TenantId, request.ProviderId, idsRequired: false);
        }
        else if (request.Role is not (Names.Roles.Sme or Names.Roles.Provider))
        {
            check.Add("role", "an account made without an admin is for an SME (sme) or a provider (provider)");
        }
        else if (request.TenantId is not null || request.ProviderId is not null)
        {
            // Naming an organisation would join it: only an admin may put an account into an existing one.
            check.Add(request.TenantId is not null ? "tenantId" : "providerId", "a new organisation's id is chosen by the marketplace");
        }
        if (!check.Ok)
        {
            return check.Problem();
        }
        // An SME or provider account without an organisation's id opens a new organisation.
        var organisation = request.Role switch
        {
            Names.Roles.Sme => new Organisation(Names.Roles.Sme, request.TenantId ?? NewId("t"), null),
            Names.Roles.Provider => new Organisation(Names.Roles.Provider, null, request.ProviderId ?? NewId("x")),
            _ => new Organisation(request.Role!, null, null),
        };
        // An admin's account is confirmed as it is made; anyone else's signs in once its address is confirmed by the mailed link.
        var (user, taken, errors) = await registration.CreateAsync(request.Email!, request.Password!, organisation, confirmed: byAdmin);
        if (user is null && !taken)
        {
            return Problems.Validation(errors);
        }
        if (byAdmin)
        {
            // An admin manages the accounts: there is nothing to hide from them.
            if (user is null)
            {
                return Problems.Of(StatusCodes.Status409Conflict, "email-taken", "An account with this email exists", field: "email");
            }
            AuditMiddleware.Describe(context, Created(user, organisation));
            return Results.Created($"/api/v1/accounts/{user.Id}", new AccountResponse(user.Id, user.Email!, user.Role, user.TenantId, user.ProviderId));
        }
        // Anyone else is answered alike whether the email had an account or not (else registering would tell who has
        // one); the address itself is told which.
        string subject, outcome, detail;
        if (user is null)
        {
            mail.AlreadyRegistered(request.Email!);
            subject = (await users.FindByEmailAsync(request.Email!))?.Id ?? "unknown-account";
            (outcome, detail) = ("refused", "a registration for this account's email was refused; the owner was told by mail");
        }
        else
        {
            await AddressConfirmation.MailLinkAsync(users, mail, oidc, user);
            (subject, outcome, detail) = (user.Id, "ok", Created(user, organisation));
        }
        if (context.User.Identity?.IsAuthenticated == true)
        {
            AuditMiddleware.Describe(context, detail, outcome);
        }
        else
        {
            // The middleware audits signed-in callers only; a registration is on the trail whoever makes it.
            audit.Record(new AuditEntry(clock.GetUtcNow(), subject, "anonymous", AuditMiddleware.ActionOf(context), $"POST {context.Request.Path}",
                outcome, StatusCodes.Status202Accepted, detail, RequestOrigin.Of(context)));
        }
        return Results.Accepted(value: RegistrationAccepted.Answer);
    }

    private static string Created(MarketplaceUser user, Organisation organisation) => $"account {user.Id} created as {user.Role}{Of(organisation)}";

    private static async Task<IResult> ChangeRole(string id, RoleChange request, UserManager<MarketplaceUser> users, AccountStamps stamps, HttpContext context)
    {
        var check = AccountRegistration.CheckOrganisation(Check.Of(request), request.Role, request.TenantId, request.ProviderId);
        if (!check.Ok)
        {
            return check.Problem();
        }
        var user = await users.FindByIdAsync(id);
        if (user is null)
        {
            return Problems.NotFound(context, "account", id);
        }
        var before = $"{user.Role}{Of(Organisation.Of(user))}";
        (user.Role, user.TenantId, user.ProviderId) = (request.Role!, request.TenantId, request.ProviderId);
        // A new security stamp, in the same write: the account's access tokens of its old role are refused from now on.
        var updated = await users.UpdateSecurityStampAsync(user);
        if (!updated.Succeeded)
        {
            // Another change to the account won the race: the caller reads it again and decides.
            return Problems.Of(StatusCodes.Status409Conflict, "account-changed", "The account changed meanwhile; read it again and retry",
                string.Join("; ", updated.Errors.Select(e => e.Description)));
        }
        stamps.Forget(user.Id);
        // The middleware writes the admin's request to the trail; this says what it changed.
        AuditMiddleware.Describe(context, $"account {user.Id}: {before} -> {user.Role}{Of(Organisation.Of(user))}");
        return Results.Ok(new AccountResponse(user.Id, user.Email!, user.Role, user.TenantId, user.ProviderId));
    }

    private static async Task<IResult> CreateClient(ApiClientRequest request, IOpenIddictApplicationManager applications, HttpContext context)
    {
        var check = AccountRegistration.CheckOrganisation(Check.Of(request).Name(request.DisplayName, "displayName"), request.Role, request.TenantId, request.ProviderId);
        if (!check.Ok)
        {
            return check.Problem();
        }
        var organisation = new Organisation(request.Role!, request.TenantId, request.ProviderId);
        var clientId = $"api-{Guid.NewGuid():N}";
        var secret = await ApiClients.CreateAsync(applications, clientId, request.DisplayName!, organisation, context.RequestAborted);
        AuditMiddleware.Describe(context, $"client {clientId} created as {organisation.Role}{Of(organisation)}");
        return Results.Created($"/api/v1/clients/{clientId}", new ApiClientResponse(clientId, secret, organisation.Role, organisation.TenantId, organisation.ProviderId));
    }

    /// <summary>A new organisation's id, as the development tokens make them ("t-" for a tenant, "x-" for a provider).</summary>
    private static string NewId(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..14];

    private static string Of(Organisation organisation) =>
        organisation.TenantId is { } tenant ? $" for tenant {tenant}" : organisation.ProviderId is { } provider ? $" for provider {provider}" : "";
}
