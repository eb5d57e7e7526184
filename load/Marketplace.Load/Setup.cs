using System.Net;
using Polly;
using Polly.Retry;

namespace Marketplace.Load;

/// <summary>A tenant ready to trade: its API client and, when it has one, its voucher and whether the voucher can pay.</summary>
public sealed record Tenant(TenantPlan Plan, Credential Credential, string? VoucherId, bool VoucherActive)
{
    /// <summary>The tenant's access token as it is now (renewed before it expires).</summary>
    public string Token => Credential.Token;
}

/// <summary>What setup made: the pools to trade against, the tenants, and each provider's API client.</summary>
public sealed record Market(IReadOnlyList<PoolPlan> Pools, IReadOnlyList<Tenant> Tenants, IReadOnlyDictionary<string, Credential> Providers);

/// <summary>
/// The admin API client the tool starts from (the web tier registers it from Accounts:AutomationClientId and
/// Accounts:AutomationClientSecret). The secret comes from the environment only, never the command line.
/// </summary>
public sealed record Automation(string ClientId, string Secret)
{
    public const string ClientIdVariable = "MARKETPLACE_CLIENT_ID";
    public const string SecretVariable = "MARKETPLACE_CLIENT_SECRET";

    public static Automation FromEnvironment() =>
        Environment.GetEnvironmentVariable(ClientIdVariable) is { Length: > 0 } id && Environment.GetEnvironmentVariable(SecretVariable) is { Length: > 0 } secret
            ? new Automation(id, secret)
            : throw new ArgumentException($"set {ClientIdVariable} and {SecretVariable} to an admin API client of the marketplace (run.sh and load/bench.sh do)");
}

/// <summary>
/// Builds the simulated market through the public API, idempotently: ids are fixed, a 409 means "already there", and
/// programs, providers and tenants are registered with calls that update what exists. Transient answers are retried.
/// </summary>
public sealed class Setup(Api api, Automation automation, Action<string> log)
{
    private readonly ResiliencePipeline<Answer> _retry = new ResiliencePipelineBuilder<Answer>()
        .AddRetry(new RetryStrategyOptions<Answer>
        {
            MaxRetryAttempts = 8,
            Delay = TimeSpan.FromMilliseconds(250),
            BackoffType = DelayBackoffType.Exponential,
            MaxDelay = TimeSpan.FromSeconds(5),
            ShouldHandle = new PredicateBuilder<Answer>()
                .Handle<HttpRequestException>()
                .Handle<TaskCanceledException>()
                .HandleResult(a => a.Status is HttpStatusCode.ServiceUnavailable or HttpStatusCode.TooManyRequests or HttpStatusCode.BadGateway),
        })
        .Build();

    public async Task<Market> RunAsync(string tenantPrefix, int tenantCount, int gpusPerPool, DateTimeOffset now, CancellationToken cancel)
    {
        var admin = (await Credential.SignInAsync(api, automation.ClientId, automation.Secret, cancel)).Token;
        await ProgramsAsync(admin, now, cancel);
        var pools = World.Pools(gpusPerPool);
        var providers = new Dictionary<string, Credential>(StringComparer.Ordinal);
        for (var i = 0; i < World.Sites.Count; i++)
        {
            var site = World.Sites[i];
            var client = await ClientAsync(admin, Names.Roles.Provider, null, site.ProviderId, cancel);
            providers[site.ProviderId] = client;
            await ProviderAsync(site, i, client.Token, admin, pools.Where(p => p.Site == site), cancel);
            await ApproveAsync(admin, site.ProviderId, cancel);
        }
        log($"{World.Sites.Count} providers with {pools.Count} pools in the national hub regions; {World.ProgramRegions.Count} voucher programs");

        var tenants = new List<Tenant>();
        foreach (var plan in World.Tenants(tenantPrefix, tenantCount))
        {
            tenants.Add(await TenantAsync(plan, await ClientAsync(admin, Names.Roles.Sme, plan.Id, null, cancel), admin, cancel));
        }
        log($"{tenants.Count} tenants, {tenants.Count(t => t.VoucherActive)} with an active voucher, {tenants.Count(t => t.VoucherId is not null && !t.VoucherActive)} with a voucher still to register");
        return new Market(pools, tenants, providers);
    }

    /// <summary>An API client acting for one organisation, made by the admin client, signed in.</summary>
    private async Task<Credential> ClientAsync(string admin, string role, string? tenantId, string? providerId, CancellationToken cancel)
    {
        var made = await CallAsync(() => api.PostAsync("/api/v1/clients", admin,
            new { displayName = $"load tool: {tenantId ?? providerId}", role, tenantId, providerId }, cancel: cancel), cancel);
        if (!made.Ok || made.Text("clientId") is not { } clientId || made.Text("clientSecret") is not { } secret)
        {
            throw new InvalidOperationException($"no API client for {tenantId ?? providerId}: {(int)made.Status} {made.Problem}");
        }
        return await Credential.SignInAsync(api, clientId, secret, cancel);
    }

    private async Task ProgramsAsync(string admin, DateTimeOffset now, CancellationToken cancel)
    {
        // Opened a month before the first run. No idempotency key: a later run sends other dates, which a reused key would
        // refuse (422); the program itself answers 409 and keeps its own terms.
        var opens = new DateTimeOffset(now.Year, now.Month, 1, 0, 0, 0, TimeSpan.Zero).AddMonths(-1);
        foreach (var (id, d) in ProgramPresets.All(opens).Where(p => World.ProgramRegions.Any(r => r.ProgramId == p.Id)))
        {
            await ExpectAsync($"program {id}", () => api.PostAsync("/api/v1/programs", admin, new
            {
                id, name = d.Name, issuer = d.Issuer, province = d.Province, claimOpensAt = d.ClaimOpensAt, claimClosesAt = d.ClaimClosesAt,
                budgetFen = d.BudgetFen, voucherCapFen = d.VoucherCapFen, coverageBasisPoints = d.CoverageBasisPoints,
                allowedTenantKinds = d.AllowedTenantKinds.Select(k => k.ToString()).ToList(), registrationDeadlineDays = d.RegistrationDeadlineDays,
                validityDays = d.ValidityDays, stackable = d.Stackable, allowMultipleOpenVouchers = d.AllowMultipleOpenVouchers, assumptions = d.Assumptions,
                validityMonths = d.ValidityMonths,
            }, cancel: cancel), cancel);
        }
    }

    private async Task ProviderAsync(HubSite site, int index, string token, string admin, IEnumerable<PoolPlan> pools, CancellationToken cancel)
    {
        await ExpectAsync($"provider {site.ProviderId}", () => api.PostAsync("/api/v1/providers", token, new
        {
            name = $"{site.Name} Co., Ltd.",
            creditCode = World.ProviderCreditCode(index),
            sites = new[] { new { siteId = "dc-1", name = site.Name, province = site.Province, city = site.City, latitude = site.Latitude,
                longitude = site.Longitude, greenPowerPercent = site.GreenPowerPercent, installedGpus = World.InstalledGpus(pools) } },
        }, cancel: cancel), cancel);
        await VerifyAsync(admin, "providers", site.ProviderId, cancel);
        foreach (var pool in pools)
        {
            await ExpectAsync($"pool {pool.PoolId}", () => api.PostAsync($"/api/v1/providers/{site.ProviderId}/pools", token, new
            {
                poolId = pool.PoolId, siteId = "dc-1", gpuModel = pool.GpuModel, gpuCount = pool.GpuCount, askFenPerGpuHour = pool.AskFenPerGpuHour,
            }, $"load-pool-{pool.PoolId}-{pool.GpuCount}", cancel), cancel);
        }
    }

    private async Task ApproveAsync(string admin, string providerId, CancellationToken cancel)
    {
        foreach (var (_, programId, _) in World.ProgramRegions)
        {
            await ExpectAsync($"approval of {providerId} for {programId}", () => api.PutAsync($"/api/v1/programs/{programId}/providers/{providerId}", admin,
                new { batchId = World.ApprovalBatch, effectiveFrom = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero) }, cancel), cancel);
        }
    }

    /// <summary>The programme office verifies the registration, as a regulator does; an unverified company can neither list, claim nor bid.</summary>
    private Task VerifyAsync(string admin, string party, string id, CancellationToken cancel) =>
        ExpectAsync($"verification of {party} {id}", () => api.PostAsync($"/api/v1/companies/{party}/{id}/verify", admin, null, cancel: cancel), cancel);

    private async Task<Tenant> TenantAsync(TenantPlan plan, Credential client, string admin, CancellationToken cancel)
    {
        var token = client.Token;
        await ExpectAsync($"tenant {plan.Id}", () => api.PostAsync("/api/v1/tenants", token, new
        {
            name = plan.Name, kind = plan.Kind.ToString(), province = plan.Province, creditCode = plan.CreditCode,
            credibilityStatement = plan.CreditCode is null ? "A team of three researchers fine-tuning open models for industrial inspection." : null,
        }, cancel: cancel), cancel);
        await VerifyAsync(admin, "tenants", plan.Id, cancel);
        await ExpectAsync($"cash of {plan.Id}", () => api.PostAsync($"/api/v1/tenants/{plan.Id}/cash/top-ups", admin,
            new { amountFen = World.TenantCashFen, paymentReference = $"load-cash-{plan.Id}" }, cancel: cancel), cancel);
        var claim = await CallAsync(() => api.PostAsync($"/api/v1/programs/{plan.ProgramId}/vouchers", token, new { }, $"load-claim-{plan.Id}", cancel), cancel);
        string? voucherId = claim.Ok ? claim.Text("id") : null;
        if (voucherId is null)
        {
            // Claimed on an earlier run (one open voucher per tenant and program), or refused: use what the tenant holds.
            var mine = await CallAsync(() => api.GetAsync("/api/v1/tenants/me/vouchers", token, cancel), cancel);
            voucherId = mine.Ok && mine.Body.ValueKind == System.Text.Json.JsonValueKind.Array
                ? mine.Body.EnumerateArray().Where(v => v.GetProperty("programId").GetString() == plan.ProgramId)
                    .Select(v => v.GetProperty("id").GetString()).FirstOrDefault()
                : null;
        }
        if (voucherId is null || !plan.RegistersActivity)
        {
            return new Tenant(plan, client, voucherId, false);
        }
        var registered = await CallAsync(() => api.PostAsync($"/api/v1/vouchers/{voucherId}/activity", token, new
        {
            title = "Fine-tuning a domain model", description = $"{plan.Name} adapts an open model to its customers' documents.", plannedGpuHours = 2_000,
        }), cancel);
        var voucher = await CallAsync(() => api.GetAsync($"/api/v1/vouchers/{voucherId}", token, cancel), cancel);
        return new Tenant(plan, client, voucherId, registered.Ok || voucher.Text("state") == nameof(VoucherState.Active));
    }

    /// <summary>Calls until the answer is not transient; success and 409 (made on an earlier run) are both fine.</summary>
    private async Task ExpectAsync(string what, Func<Task<Answer>> call, CancellationToken cancel)
    {
        var answer = await CallAsync(call, cancel);
        if (!answer.Ok && answer.Status != HttpStatusCode.Conflict)
        {
            throw new InvalidOperationException($"setting up {what} failed: {(int)answer.Status} {answer.Problem} {answer.Body}");
        }
    }

    private async Task<Answer> CallAsync(Func<Task<Answer>> call, CancellationToken cancel) =>
        await _retry.ExecuteAsync(async _ => await call(), cancel);
}
