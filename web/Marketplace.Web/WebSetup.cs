using System.Text.Json.Serialization;
using System.Threading.RateLimiting;
using Marketplace.Data;
using Marketplace.Data.Hosting;
using Marketplace.Web.Accounts;
using Marketplace.Web.Api;
using Marketplace.Web.Hubs;
using Marketplace.Web.Infrastructure;
using Marketplace.Web.Queries;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Npgsql;
using OpenIddict.Server;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Dashboard;
using Scalar.AspNetCore;

namespace Marketplace.Web;

/// <summary>The web tier: minimal APIs under /api/v1, the market hub, dashboards and health, as an Orleans client.</summary>
public static class WebSetup
{
    public const long MaxRequestBodyBytes = 64 * 1024;

    public static WebApplicationBuilder AddMarketplaceWeb(this WebApplicationBuilder builder)
    {
        var configuration = builder.Configuration;
        var connectionString = StartupCheck.ConnectionString(configuration);
        var cluster = StartupCheck.Bind<ClusterSettings>(configuration, ClusterSettings.Section);
        var auth = StartupCheck.Bind<AuthSettings>(configuration, AuthSettings.Section);
        // The same limits, from the same "Market" section, as the silos enforce.
        builder.Services.AddSingleton(StartupCheck.Bind<MarketLimits>(configuration, MarketLimits.Section));
        var devTokens = auth.DevTokensOn(builder.Environment);
        // Not .Length alone: "SigningKey": null in a settings file binds null, and that must be this one line, not a crash.
        if (devTokens && auth.SigningKey is not { Length: >= 32 })
        {
            throw new StartupException("Auth:SigningKey must be set to at least 32 characters when Auth:DevTokens is on in Development", StartupCheck.BadSetting);
        }
        var services = builder.Services;
        var trusted = builder.AddMarketplaceAccounts(connectionString, devTokens ? auth : null);

        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = MaxRequestBodyBytes);
        services.Configure<HostOptions>(o =>
        {
            // Serve /healthz at once, while the cluster connection is still being made.
            o.ServicesStartConcurrently = true;
            o.ShutdownTimeout = TimeSpan.FromSeconds(20);
        });

        builder.UseOrleansClient(client =>
        {
            client.UseAdoNetClustering(o =>
            {
                o.Invariant = "Npgsql";
                o.ConnectionString = connectionString;
            });
            client.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = cluster.ClusterId;
                o.ServiceId = cluster.ServiceId;
            });
            client.Configure<ClientMessagingOptions>(o => o.ResponseTimeout = configuration.GetValue("Resilience:CallTimeout", TimeSpan.FromSeconds(5)));
            // How soon the web tier notices silos that joined or left.
            client.Configure<GatewayOptions>(o => o.GatewayListRefreshPeriod = configuration.GetValue("Orleans:GatewayListRefreshPeriod", TimeSpan.FromSeconds(5)));
            client.Services.AddSingleton<IClientConnectionRetryFilter, KeepTryingToConnect>();
            client.Services.Configure<Orleans.Serialization.ExceptionSerializationOptions>(o => o.SupportedNamespacePrefixes.Add("Npgsql"));
            client.AddDashboard();
            client.AddActivityPropagation(); // grain calls join the request's trace
            if (cluster.LoadTlsCertificate() is { } certificate)
            {
                client.UseTls(certificate, o => ClusterTls.Configure(o, certificate));
            }
        });

        services.AddSingleton(_ => Database.CreateDataSource(connectionString));
        services.AddSingleton(sp => new CommitBatcher(sp.GetRequiredService<NpgsqlDataSource>()));
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddKeyedSingleton(Names.ClockKeys.Market, TimeProvider.System);
        services.AddSingleton(auth);
        if (devTokens)
        {
            services.AddSingleton<TokenIssuer>();
        }
        services.AddSingleton<GrainCalls>();
        services.AddSingleton<IdempotencyStore>();
        services.AddSingleton<ReadModels>();
        services.AddSingleton<LedgerChain>();
        services.AddSingleton<EvidencePacks>();
        services.AddSingleton<ProgrammeForecasts>();
        services.AddSingleton<AuditLog>();
        services.AddHostedService(sp => sp.GetRequiredService<AuditLog>());
        services.AddHostedService<IdempotencyJanitor>();
        services.AddSingleton<HistoryRollup>();
        services.AddSingleton<HistoryReads>();
        services.AddHostedService<HistoryJob>();

        services.ConfigureHttpJsonOptions(o => ConfigureJson(o.SerializerOptions));
        services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        services.AddProblemDetails(o => o.CustomizeProblemDetails = c =>
        {
            c.ProblemDetails.Instance ??= c.HttpContext.Request.Path;
            c.ProblemDetails.Extensions.TryAdd("code", c.ProblemDetails.Status switch
            {
                401 => "unauthenticated",
                403 => "forbidden",
                404 => "not-found",
                405 => "method-not-allowed",
                413 => "body-too-large",
                415 => "unsupported-media-type",
                429 => "rate-limited",
                _ => "error",
            });
            // The framework fills in an RFC link as the type of the errors it writes itself (401, 403, 404, 405, 413, 415):
            // replace it with the stable type the API promises; types the API set are already stable.
            if (c.ProblemDetails.Type is null || !c.ProblemDetails.Type.StartsWith(Problems.Type(""), StringComparison.Ordinal))
            {
                c.ProblemDetails.Type = Problems.Type((string)c.ProblemDetails.Extensions["code"]!);
            }
        });
        services.AddExceptionHandler<ProblemExceptionHandler>();

        services.AddAuthentication(JwtBearerDefaults.AuthenticationScheme).AddJwtBearer(o =>
        {
            o.MapInboundClaims = false;
            // A token naming an issuer that is not trusted, or signed with a key its issuer does not hold, is refused.
            o.TokenValidationParameters = TokenIssuer.Validation(trusted.Issuers, trusted.Audiences);
            o.Events = new JwtBearerEvents
            {
                // Browsers cannot set headers on WebSockets: the hub takes the token from the query string.
                OnMessageReceived = c =>
                {
                    if (c.HttpContext.Request.Path.StartsWithSegments(Names.Hub.Path) && c.Request.Query["access_token"] is { Count: > 0 } token)
                    {
                        c.Token = token;
                    }
                    c.Token ??= Operability.DashboardToken(c.Request);
                    return Task.CompletedTask;
                },
                OnTokenValidated = async c =>
                {
                    var refusal = TokenIssuer.Refusal(c.Principal!) ?? trusted.Refusal(c.Principal!);
                    // An account's token stands only while the account is as it was when the token was issued.
                    if (refusal is null && trusted.IsAccount(c.Principal!))
                    {
                        refusal = await c.HttpContext.RequestServices.GetRequiredService<AccountStamps>().RefusalAsync(c.Principal!, c.HttpContext.RequestAborted);
                    }
                    if (refusal is not null)
                    {
                        c.Fail(refusal);
                    }
                },
            };
        });
        services.AddOptions<JwtBearerOptions>(JwtBearerDefaults.AuthenticationScheme).Configure<IOptionsMonitor<OpenIddictServerOptions>>((o, server) =>
            o.TokenValidationParameters.IssuerSigningKeyResolver = (_, token, _, _) => trusted.KeysOf(token.Issuer, server.CurrentValue));
        services.AddAuthorizationBuilder()
            .AddPolicy(Names.Policies.Sme, p => p.RequireRole(Names.Roles.Sme).RequireClaim(Names.Claims.TenantId))
            .AddPolicy(Names.Policies.Provider, p => p.RequireRole(Names.Roles.Provider).RequireClaim(Names.Claims.ProviderId))
            .AddPolicy(Names.Policies.Oversight, p => p.RequireRole(Names.Roles.Regulator, Names.Roles.Admin))
            .AddPolicy(Names.Policies.Admin, p => p.RequireRole(Names.Roles.Admin));

        services.AddMarketplaceRateLimits(StartupCheck.Bind<RateLimitSettings>(configuration, RateLimitSettings.Section));

        services.AddSignalR(o =>
            {
                o.MaximumReceiveMessageSize = 32 * 1024;
                o.AddFilter<HubCallLogging>();
                o.AddFilter<HubCallLimit>();
                o.AddFilter<HubAccountCheck>();
            })
            .AddJsonProtocol(o => ConfigureJson(o.PayloadSerializerOptions))
            .AddMessagePackProtocol();
        services.AddSingleton<MarketObserver>();
        services.AddHostedService<HubRegistration>();
        services.AddHostedService<RegulatorFeed>();

        services.AddOpenApi(ApiDocument.Configure);
        builder.AddOperability();
        services.AddSingleton<ClusterHealthCheck>(); // one instance: it remembers when the cluster last answered
        services.AddHealthChecks()
            .AddCheck<ClusterHealthCheck>("cluster", tags: ["ready"])
            .AddCheck<DatabaseHealthCheck>("database", tags: ["ready"]);
        return builder;
    }

    public static void ConfigureJson(System.Text.Json.JsonSerializerOptions options)
    {
        options.PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.CamelCase;
        options.Converters.Add(new JsonStringEnumConverter());
        options.Converters.Add(new OffsetRequiredTimestampConverter());
        options.MaxDepth = 32;
        options.NumberHandling = JsonNumberHandling.Strict;
    }

    public static WebApplication UseMarketplaceWeb(this WebApplication app)
    {
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseMiddleware<SecurityHeadersMiddleware>();
        app.UseRouting();
        app.UseAuthentication();
        app.UseMiddleware<AuditMiddleware>();
        // Before authorization, so that callers refused there (anonymous ones above all) are limited too; before the pages,
        // so that they cost a caller as well.
        app.UseRateLimiter();
        app.UseDefaultFiles();
        app.UseStaticFiles();
        app.UseAuthorization();
        app.UseAntiforgery();
        app.UseMiddleware<Utf8BodyMiddleware>();
        app.UseMiddleware<IdempotencyMiddleware>();
        return app;
    }

    public static WebApplication MapMarketplaceApi(this WebApplication app)
    {
        app.MapHealthChecks("/healthz", new HealthCheckOptions { Predicate = _ => false });
        app.MapHealthChecks("/readyz", new HealthCheckOptions { Predicate = c => c.Tags.Contains("ready") });
        app.MapOpenApi();
        app.MapScalarApiReference(o => o.WithTitle("Compute Voucher Marketplace API"));

        var api = app.MapGroup("/api/v1").RequireAuthorization().AddEndpointFilter(new PathIdFilter());
        api.MapAuthApi(app.Environment);
        api.MapAccountsApi();
        app.MapSignIn();
        app.MapSecondFactor();
        app.MapAddressConfirmation();
        app.MapConnect();
        api.MapProgramsApi();
        api.MapTenantsApi();
        api.MapCashApi();
        api.MapVouchersApi();
        api.MapProvidersApi();
        api.MapMarketApi();
        api.MapReservationsApi();
        api.MapOversightApi();
        api.MapHistoryApi();
        api.MapCompaniesApi();
        api.MapEvidenceApi();
        // A connection ends when its token does: a revoked role or a lapsed sign-in cannot keep listening.
        app.MapHub<MarketHub>(Names.Hub.Path, o => o.CloseOnAuthenticationExpiration = true).RequireAuthorization();
        app.MapOperability();
        return app;
    }
}

/// <summary>The web tier keeps trying to reach the cluster: silos may start after it or restart under it.</summary>
internal sealed class KeepTryingToConnect(ILogger<KeepTryingToConnect> logger) : IClientConnectionRetryFilter
{
    public async Task<bool> ShouldRetryConnectionAttempt(Exception exception, CancellationToken cancellationToken)
    {
        logger.LogWarning("Cannot reach the cluster yet ({Error}); retrying", exception.Message);
        await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
        return !cancellationToken.IsCancellationRequested;
    }
}

/// <summary>
/// Ready while the cluster answers. A probe that fails within <see cref="Grace"/> of the last answer reports Degraded (still
/// 200): when a silo dies, calls fail for the few seconds the cluster takes to notice and move its grains, which the API
/// absorbs with retries, so a load balancer should not take this web node out for it. Failing longer is Unhealthy (503).
/// </summary>
internal sealed class ClusterHealthCheck(IClusterClient client, TimeProvider time) : IHealthCheck
{
    public static readonly TimeSpan Grace = TimeSpan.FromSeconds(15);

    private long _lastAnswer; // a TimeProvider timestamp; 0 until the cluster first answers

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await client.GetGrain<Grains.IUtilizationGrain>(0).GetSnapshot(long.MaxValue).WaitAsync(TimeSpan.FromSeconds(3), cancellationToken);
            Interlocked.Exchange(ref _lastAnswer, time.GetTimestamp());
            return HealthCheckResult.Healthy();
        }
        catch (Exception e)
        {
            var last = Interlocked.Read(ref _lastAnswer);
            return last != 0 && time.GetElapsedTime(last) < Grace
                ? HealthCheckResult.Degraded($"the cluster did not answer; it did {time.GetElapsedTime(last).TotalSeconds:F1} s ago", e)
                : HealthCheckResult.Unhealthy("the cluster does not answer", e);
        }
    }
}

internal sealed class DatabaseHealthCheck(NpgsqlDataSource db) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await using var command = db.CreateCommand("SELECT count(*) FROM schema_version");
            await command.ExecuteScalarAsync(cancellationToken).WaitAsync(TimeSpan.FromSeconds(3), cancellationToken);
            return HealthCheckResult.Healthy();
        }
        catch (Exception e)
        {
            return HealthCheckResult.Unhealthy("the database does not answer", e);
        }
    }
}
