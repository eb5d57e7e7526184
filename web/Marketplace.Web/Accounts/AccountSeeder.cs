using Microsoft.AspNetCore.Identity;
using Npgsql;
using OpenIddict.Abstractions;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace Marketplace.Web.Accounts;

/// <summary>Accounts made at start-up ("Accounts" section).</summary>
public sealed class AccountSeedSettings : System.ComponentModel.DataAnnotations.IValidatableObject
{
    public const string Section = "Accounts";

    /// <summary>The first admin of a new deployment (from the environment); made once, if no account has this email.</summary>
    public string? FirstAdminEmail { get; set; }

    public string? FirstAdminPassword { get; set; }

    /// <summary>
    /// An admin API client (client credentials) a deployment's automation and the load tool start from: registered once,
    /// if no client has this id. They make a client per organisation they act for through <c>POST /api/v1/clients</c>.
    /// </summary>
    public string? AutomationClientId { get; set; }

    /// <summary>Its secret, at least <see cref="MinAutomationSecretLength"/> characters (from the environment, never the repository).</summary>
    public string? AutomationClientSecret { get; set; }

    public const int MinAutomationSecretLength = 32;

    /// <summary>Development only: one demo user per role (run.sh turns it on), all with <see cref="DemoPassword"/>.</summary>
    public bool DemoUsers { get; set; }

    public string DemoPassword { get; set; } = DemoOrganisations.Password;

    public IEnumerable<System.ComponentModel.DataAnnotations.ValidationResult> Validate(System.ComponentModel.DataAnnotations.ValidationContext validationContext)
    {
        if (AutomationClientId is { Length: > 0 } && (AutomationClientSecret?.Length ?? 0) < MinAutomationSecretLength)
        {
            yield return new($"Accounts:AutomationClientSecret must be at least {MinAutomationSecretLength} characters when Accounts:AutomationClientId is set");
        }
    }

    internal static readonly IReadOnlyList<(string Email, Organisation Organisation)> Demo =
    [
        (DemoOrganisations.SmeEmail, new Organisation(Names.Roles.Sme, DemoOrganisations.Tenant, null)),
        ("provider@demo.local", new Organisation(Names.Roles.Provider, null, DemoOrganisations.Provider)),
        ("regulator@demo.local", new Organisation(Names.Roles.Regulator, null, null)),
        ("admin@demo.local", new Organisation(Names.Roles.Admin, null, null)),
    ];
}

/// <summary>
/// Registers the dashboards' client and makes the first admin and the demo users. The web tier does not migrate the
/// schema (the silos do), so this keeps trying until the accounts tables are there.
/// </summary>
internal sealed class AccountSeeder(IServiceScopeFactory scopes, IConfiguration configuration, IWebHostEnvironment environment, OidcSettings oidc,
    ILogger<AccountSeeder> logger) : BackgroundService
{
    // Bound when the host starts, so a bad setting stops the web tier with one line rather than failing later.
    private readonly AccountSeedSettings _settings = Data.Hosting.StartupCheck.Bind<AccountSeedSettings>(configuration, AccountSeedSettings.Section);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = _settings;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await SeedAsync(settings, stoppingToken);
                return;
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
            {
                logger.LogInformation("The accounts tables are not there yet (the silos migrate the schema); trying again");
            }
            catch (Exception e) when (e is NpgsqlException { IsTransient: true } or TimeoutException)
            {
                logger.LogWarning("Cannot seed the accounts yet: {Error}", e.Message);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // A fault no retry cures (the database role lacks a privilege, say): said once, and the API keeps serving.
                logger.LogError(e, "Could not seed the accounts");
                return;
            }
            await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken);
        }
    }

    private async Task SeedAsync(AccountSeedSettings settings, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var applications = scope.ServiceProvider.GetRequiredService<IOpenIddictApplicationManager>();
        if (await applications.FindByClientIdAsync(AccountsSetup.DashboardClientId, cancellationToken) is null)
        {
            var issuer = new Uri(oidc.Issuer);
            var dashboards = new OpenIddictApplicationDescriptor
            {
                ClientId = AccountsSetup.DashboardClientId,
                ClientType = ClientTypes.Public,
                ConsentType = ConsentTypes.Implicit, // the marketplace's own pages: nothing to consent to
                DisplayName = "算力券交易平台 Compute Voucher Marketplace dashboards",
                RedirectUris = { new Uri(issuer, "signed-in.html") },
                PostLogoutRedirectUris = { new Uri(issuer, "index.html") },
                Permissions =
                {
                    Permissions.Endpoints.Authorization,
                    Permissions.Endpoints.Token,
                    Permissions.Endpoints.EndSession,
                    Permissions.GrantTypes.AuthorizationCode,
                    Permissions.GrantTypes.RefreshToken,
                    Permissions.ResponseTypes.Code,
                    Permissions.Prefixes.Scope + AccountsSetup.ApiScope,
                },
                Requirements = { Requirements.Features.ProofKeyForCodeExchange },
            };
            foreach (var uri in oidc.DashboardRedirectUris)
            {
                dashboards.RedirectUris.Add(new Uri(uri));
            }
            await applications.CreateAsync(dashboards, cancellationToken);
        }

        if (settings.AutomationClientId is { Length: > 0 } automation)
        {
            // The setting is the truth: a secret changed in the environment replaces the stored one (rotation by restart).
            if (await applications.FindByClientIdAsync(automation, cancellationToken) is not { } existing)
            {
                await ApiClients.CreateAsync(applications, automation, "Automation (admin)", new Organisation(Names.Roles.Admin, null, null), cancellationToken,
                    settings.AutomationClientSecret);
                logger.LogInformation("Registered the automation client {ClientId}", automation);
            }
            else if (!await applications.ValidateClientSecretAsync(existing, settings.AutomationClientSecret!, cancellationToken))
            {
                await applications.UpdateAsync(existing, settings.AutomationClientSecret!, cancellationToken);
                logger.LogInformation("Replaced the secret of the automation client {ClientId}", automation);
            }
        }

        var registration = scope.ServiceProvider.GetRequiredService<AccountRegistration>();
        var users = scope.ServiceProvider.GetRequiredService<UserManager<MarketplaceUser>>();
        if (settings.FirstAdminEmail is { Length: > 0 } adminEmail && await users.FindByEmailAsync(adminEmail) is null)
        {
            await CreateAsync(registration, adminEmail, settings.FirstAdminPassword ?? "", new Organisation(Names.Roles.Admin, null, null));
        }
        if (settings.DemoUsers && environment.IsDevelopment())
        {
            foreach (var (email, organisation) in AccountSeedSettings.Demo)
            {
                if (await users.FindByEmailAsync(email) is null)
                {
                    await CreateAsync(registration, email, settings.DemoPassword, organisation);
                }
            }
        }
    }

    private async Task CreateAsync(AccountRegistration registration, string email, string password, Organisation organisation)
    {
        var (user, taken, errors) = await registration.CreateAsync(email, password, organisation, confirmed: true);
        if (taken)
        {
            logger.LogInformation("The {Role} account {Email} was made meanwhile (by another web node)", organisation.Role, email);
            return;
        }
        if (user is null)
        {
            // A setting to fix (a password too short, say), said once in the log.
            logger.LogError("Could not create the account {Email}: {Errors}", email, string.Join("; ", errors.SelectMany(e => e.Value)));
            return;
        }
        logger.LogInformation("Created the {Role} account {Email}", organisation.Role, email);
    }
}
