using Marketplace.Testing;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Xunit;

namespace Marketplace.Grains.Tests;

/// <summary>
/// The company (its unified social credit code) is the unit of the rules: who registers, which province it is in, what
/// "one open voucher" counts, which related parties a voucher remembers, and how many GPUs a provider's site can list.
/// </summary>
[Collection(VoucherCollection.Name)]
public sealed class CompanyRuleTests(VoucherCluster cluster)
{
    private readonly Scenario _s = new(cluster);

    private ITenantGrain TenantGrain(string id) => cluster.Grains.GetGrain<ITenantGrain>(id);

    private static TenantRegistration Sme(string code, string province = "Beijing", IReadOnlyList<string>? related = null) =>
        new("Acme AI", TenantKind.Sme, province, code, related ?? [], null);

    private static FundingRequest Rental(string tenantId, string providerId, string providerCode, DateTimeOffset start) =>
        new(Scenario.Unique("res"), tenantId, providerId, providerCode, start, start.AddHours(2), 1_000);

    [Fact]
    public async Task Company_a_registration_made_before_verification_joins_the_regulators_queue_as_pending_and_holds_its_credit_code()
    {
        // Stored as registrations were before companies were verified: no status, no row in the queue, no code held.
        var id = Scenario.Unique("tenant");
        var code = Scenario.NewCreditCode();
        var storage = cluster.Cluster.GetSiloServiceProvider().GetRequiredKeyedService<Orleans.Storage.IGrainStorage>(Names.Storage.Grains);
        await storage.WriteStateAsync("tenant", GrainId.Create("tenant", id),
            new Orleans.GrainState<TenantState>(new TenantState { Registration = Sme(code), RegisteredAt = _s.Now }));

        var view = await TenantGrain(id).Get();

        Assert.Equal(CompanyState.Pending, view!.Status!.State);
        Assert.Equal("Pending", await cluster.Database.ScalarAsync<string>(
            "SELECT state FROM companies WHERE party = 'tenant' AND party_id = @id", ("id", id)));
        Assert.Equal(id, await cluster.Database.ScalarAsync<string>(
            "SELECT party_id FROM company_credit_codes WHERE party = 'tenant' AND credit_code = @c", ("c", code)));
        var again = Assert.ThrowsAsync<DomainException>(() => TenantGrain(Scenario.Unique("tenant")).Register(Sme(code)));
        Assert.Equal("credit-code-taken", (await again).Code);
        // Still pending until a regulator verifies it: it can read, not claim.
        var program = await _s.Program();
        var claim = Assert.ThrowsAsync<DomainException>(() => _s.Claim(program, id));
        Assert.Equal(CompanyVerification.NotVerified, (await claim).Code);
    }

    [Fact]
    public async Task Company_a_credit_code_is_registered_by_one_tenant_only()
    {
        var code = Scenario.NewCreditCode();
        var first = Scenario.Unique("tenant");
        var second = Scenario.Unique("tenant");
        await TenantGrain(first).Register(Sme(code));

        var taken = await Assert.ThrowsAsync<DomainException>(() => TenantGrain(second).Register(Sme(code)));
        Assert.Equal(ErrorKind.Conflict, taken.Kind);
        Assert.Equal("credit-code-taken", taken.Code);
        Assert.Null(await TenantGrain(second).Get());

        // Registering again under the same tenant id is an update, not a second company.
        Assert.Equal(code, (await TenantGrain(first).Register(Sme(code) with { Name = "Acme AI Ltd." })).Registration.CreditCode);

        // The code is the company's: once the first tenant gives it up, another may register it.
        await TenantGrain(first).Register(Sme(Scenario.NewCreditCode()));
        Assert.Equal(code, (await TenantGrain(second).Register(Sme(code))).Registration.CreditCode);
    }

    [Fact]
    public async Task Company_the_database_refuses_a_second_holder_of_a_credit_code()
    {
        var code = Scenario.NewCreditCode();
        await using var insert = cluster.Database.DataSource.CreateCommand("""
            INSERT INTO company_credit_codes (party, credit_code, party_id, registered_at) VALUES ('tenant', @code, 'tenant-a', now());
            INSERT INTO company_credit_codes (party, credit_code, party_id, registered_at) VALUES ('tenant', @code, 'tenant-b', now());
            """);
        insert.Parameters.AddWithValue("code", code);
        var refused = await Assert.ThrowsAsync<PostgresException>(() => insert.ExecuteNonQueryAsync());
        Assert.Equal(PostgresErrorCodes.UniqueViolation, refused.SqlState);
    }

    [Fact]
    public async Task Company_a_provider_registers_a_credit_code_once_but_may_share_it_with_its_own_tenant()
    {
        var (_, code) = await _s.Provider();
        var taken = await Assert.ThrowsAsync<DomainException>(() => _s.Provider(creditCode: code));
        Assert.Equal("credit-code-taken", taken.Code);

        // The same company renting GPU time as a tenant is allowed (and is its own related party).
        var (tenant, _) = await _s.Tenant(province: "Gansu", creditCode: code);
        Assert.Equal(code, (await TenantGrain(tenant).Get())!.Registration.CreditCode);
    }

    [Fact]
    public async Task Company_the_credit_code_division_digits_must_match_the_declared_province()
    {
        var beijingCode = Scenario.NewCreditCode("Beijing");
        var mismatch = await Assert.ThrowsAsync<DomainException>(() => TenantGrain(Scenario.Unique("tenant")).Register(Sme(beijingCode, "Shanghai")));
        Assert.Equal("credit-code-province-mismatch", mismatch.Code);
        Assert.Equal("creditCode", mismatch.Field);
        Assert.Equal($"creditCode characters 3 to 8 ('{beijingCode[2..8]}') say the company is registered in Beijing, not Shanghai", mismatch.Message);

        // "99" is no province's code.
        var nowhere = CreditCode.Complete("9199" + beijingCode[4..17]);
        Assert.Equal("credit-code-province-mismatch",
            (await Assert.ThrowsAsync<DomainException>(() => TenantGrain(Scenario.Unique("tenant")).Register(Sme(nowhere)))).Code);

        Assert.Equal("Shanghai", (await TenantGrain(Scenario.Unique("tenant")).Register(Sme(Scenario.NewCreditCode("Shanghai"), "Shanghai"))).Registration.Province);
    }

    [Fact]
    public async Task Rule2_one_open_voucher_per_company_even_when_its_credit_code_moves_to_another_tenant_id()
    {
        var program = await _s.Program();
        var code = Scenario.NewCreditCode();
        var (first, _) = await _s.Tenant(creditCode: code);
        await _s.Claim(program, first);

        // The company moves its code to a fresh tenant id and claims again: still the same company, still one open voucher.
        await TenantGrain(first).Register(Sme(Scenario.NewCreditCode()));
        var (second, _) = await _s.Tenant(creditCode: code);
        var refused = await Assert.ThrowsAsync<DomainException>(() => _s.Claim(program, second));
        Assert.Equal("open-voucher-exists", refused.Code);
    }

    [Fact]
    public async Task Rule3_related_parties_are_frozen_into_the_voucher_at_claim_and_a_later_change_never_removes_one()
    {
        var program = await _s.Program();
        var (sister, sisterCode) = await _s.Provider();
        var (tenant, tenantCode) = await _s.Tenant(relatedParties: [sisterCode]);
        var (self, _) = await _s.Provider(creditCode: tenantCode);
        var (later, laterCode) = await _s.Provider();
        await _s.Approve(program, sister);
        await _s.Approve(program, self);
        await _s.Approve(program, later);
        var voucher = cluster.Grains.GetGrain<IVoucherGrain>((await _s.ActiveVoucher(program, tenant)).Id);

        // After the claim the tenant clears its related parties and changes its own code, then rents from both.
        await TenantGrain(tenant).Register(Sme(Scenario.NewCreditCode()));
        Assert.Equal("related-party", (await voucher.HoldFunds(Rental(tenant, sister, sisterCode, _s.Now.AddDays(1)))).RefusalCode);
        Assert.Equal("related-party", (await voucher.HoldFunds(Rental(tenant, self, tenantCode, _s.Now.AddDays(1)))).RefusalCode);

        // A related party declared after the claim counts too.
        await TenantGrain(tenant).Register(Sme(Scenario.NewCreditCode(), related: [laterCode]));
        Assert.Equal("related-party", (await voucher.HoldFunds(Rental(tenant, later, laterCode, _s.Now.AddDays(1)))).RefusalCode);
    }

    [Fact]
    public async Task Rule4_the_pools_at_a_site_never_add_up_to_more_gpus_than_it_has_installed()
    {
        var (provider, _) = await _s.Provider(installedPerModel: 16);
        var grain = cluster.Grains.GetGrain<IProviderGrain>(provider);
        var first = await _s.Pool(provider, "H800-80G", gpus: 8);
        await _s.Pool(provider, "H800-80G", gpus: 8);

        var beyond = await Assert.ThrowsAsync<DomainException>(() => _s.Pool(provider, "H800-80G", gpus: 1));
        Assert.Equal("site-capacity-exceeded", beyond.Code);
        Assert.Equal("gpuCount", beyond.Field);
        Assert.Equal("site 'site-1' has 16 H800-80G GPUs installed and 16 of them already listed; a pool of 1 does not fit", beyond.Message);
        Assert.Equal("site-capacity-exceeded",
            (await Assert.ThrowsAsync<DomainException>(() => grain.ChangePool(first.Id, new PoolChange(null, 9)))).Code);

        // Listing the same pool again (a retry) is no new capacity; another model has its own count; a pool can shrink.
        Assert.Equal(8, (await grain.ListPool(new PoolListing(first.Id, "site-1", "H800-80G", 8, 1_500))).GpuCount);
        Assert.Equal(16, (await _s.Pool(provider, "A800-80G", gpus: 16)).GpuCount);
        Assert.Equal(4, (await grain.ChangePool(first.Id, new PoolChange(null, 4))).GpuCount);

        // A site cannot declare fewer GPUs than its pools already list.
        var registration = (await grain.Get())!.Registration;
        var shrunk = await Assert.ThrowsAsync<DomainException>(() => grain.Register(registration with { Installed = Scenario.Installed(registration.Sites, 11) }));
        Assert.Equal("site-capacity-below-pools", shrunk.Code);
        Assert.Equal(16, (await grain.Register(registration with { Installed = Scenario.Installed(registration.Sites, 16) }))
            .Registration.InstalledAt("site-1", "H800-80G"));
    }

    [Fact]
    public async Task Rule4_a_site_without_declared_gpus_lists_no_pool()
    {
        var (provider, _) = await _s.Provider(installedPerModel: 0);
        var refused = await Assert.ThrowsAsync<DomainException>(() => _s.Pool(provider, "H20-96G", gpus: 1));
        Assert.Equal("site-capacity-exceeded", refused.Code);
    }

    private static readonly CompanyDecision Verify = Scenario.Verify;

    [Fact]
    public async Task Company_a_registration_is_pending_and_an_unverified_tenant_cannot_claim_until_a_regulator_verifies_it()
    {
        var program = await _s.Program();
        var (tenant, _) = await _s.Tenant(verified: false);
        var pending = (await TenantGrain(tenant).Get())!.Status!;
        Assert.Equal((CompanyState.Pending, 1, 0, null), (pending.State, pending.Revision, pending.Changes.Count, pending.ReviewedBy));

        var refused = await Assert.ThrowsAsync<DomainException>(() => _s.Claim(program, tenant));
        Assert.Equal((ErrorKind.Forbidden, "company-not-verified"), (refused.Kind, refused.Code));

        var verified = (await TenantGrain(tenant).Review(Verify)).Status!;
        Assert.Equal((CompanyState.Verified, 1, "scenario-regulator", _s.Now), (verified.State, verified.Revision, verified.ReviewedBy, verified.ReviewedAt!.Value));
        Assert.Equal(VoucherState.Claimed, (await _s.Claim(program, tenant)).State);
    }

    [Fact]
    public async Task Company_an_unverified_provider_cannot_list_a_pool()
    {
        var (provider, _) = await _s.Provider(verified: false);
        var refused = await Assert.ThrowsAsync<DomainException>(() => _s.Pool(provider));
        Assert.Equal((ErrorKind.Forbidden, "company-not-verified"), (refused.Kind, refused.Code));

        await cluster.Grains.GetGrain<IProviderGrain>(provider).Review(Verify);
        Assert.Equal(8, (await _s.Pool(provider)).GpuCount);
    }

    [Fact]
    public async Task Company_a_change_after_verification_goes_back_to_pending_with_the_changes_before_and_after()
    {
        var (_, relatedCode) = await _s.Provider();
        var code = Scenario.NewCreditCode();
        var (tenant, _) = await _s.Tenant(creditCode: code);
        var grain = TenantGrain(tenant);

        // A new name only: still the company verified.
        var renamed = (await grain.Register(Sme(code) with { Name = "Acme AI Ltd." })).Status!;
        Assert.Equal((CompanyState.Verified, 2), (renamed.State, renamed.Revision));

        var changed = (await grain.Register(Sme(code, related: [relatedCode]) with { Kind = TenantKind.StartupTeam })).Status!;
        Assert.Equal((CompanyState.Pending, 3), (changed.State, changed.Revision));
        Assert.Equal([new CompanyChange("kind", "Sme", "StartupTeam"), new CompanyChange("relatedPartyCreditCodes", "", relatedCode)], changed.Changes);

        // The regulator decides on the registration they saw: an older revision is refused, a rejection needs a reason.
        Assert.Equal("company-changed", (await Assert.ThrowsAsync<DomainException>(() => grain.Review(Verify with { Revision = 2 }))).Code);
        Assert.Equal("reason-required", (await Assert.ThrowsAsync<DomainException>(() => grain.Review(new CompanyDecision(false, "officer", " ", 3)))).Code);
        var rejected = (await grain.Review(new CompanyDecision(false, "officer", "A related party is undeclared.", 3))).Status!;
        Assert.Equal((CompanyState.Rejected, "A related party is undeclared.", "officer"), (rejected.State, rejected.Reason, rejected.ReviewedBy));
        var program = await _s.Program();
        Assert.Equal("company-not-verified", (await Assert.ThrowsAsync<DomainException>(() => _s.Claim(program, tenant))).Code);

        var verified = (await grain.Review(Verify with { Revision = 3 })).Status!;
        Assert.Equal((CompanyState.Verified, 3, 0), (verified.State, verified.Revision, verified.Changes.Count));
    }

    [Fact]
    public async Task Company_a_providers_change_of_installed_gpus_after_verification_goes_back_to_pending_with_the_change()
    {
        var (provider, _) = await _s.Provider(installedPerModel: 16);
        var grain = cluster.Grains.GetGrain<IProviderGrain>(provider);
        var registration = (await grain.Get())!.Registration;
        var more = registration.Installed!.Select(i => i.GpuModel == "H800-80G" ? i with { Count = 64 } : i).ToList();

        var status = (await grain.Register(registration with { Installed = more })).Status!;
        Assert.Equal(CompanyState.Pending, status.State);
        Assert.Equal([new CompanyChange("installedGpus[site-1][H800-80G]", "16", "64")], status.Changes);
        Assert.Equal("company-not-verified", (await Assert.ThrowsAsync<DomainException>(() => _s.Pool(provider))).Code);
    }

    /// <summary>
    /// The pools of a provider whose company is not verified sell nothing new: a change after verification puts its pools
    /// on hold until a regulator verifies the company again. Each test here has a pool asking 1 fen in a province of its own,
    /// so only its pool can fill its bid.
    /// </summary>
    [Fact]
    public async Task Company_a_providers_pools_sell_only_while_its_company_is_verified()
    {
        var site = Scenario.Site("Hainan");
        var (provider, _) = await _s.Provider([site], installedPerModel: 16);
        var pool = await _s.Pool(provider, "RTX4090-24G", gpus: 8, ask: 1);
        var grain = cluster.Grains.GetGrain<IProviderGrain>(provider);
        var registration = (await grain.Get())!.Registration;
        await grain.Register(registration with { Installed = registration.Installed!.Select(i => i with { Count = 32 }).ToList() });
        var (tenant, _) = await _s.Tenant();
        var order = _s.Order(gpus: 8, hours: 2, startInHours: 2, maxPrice: 1, model: "RTX4090-24G", provinces: ["Hainan"]);

        var refused = await _s.Bid(tenant, order);
        Assert.Equal((BidState.Rejected, "no-capacity"), (refused.State, refused.ReasonCode));
        Assert.Equal(CompanyVerification.NotVerified, (await _s.PoolView(pool.Id))!.SuspendedBecause);

        await grain.Review(Verify with { Revision = (await grain.Get())!.Status!.Revision });
        var filled = await _s.Bid(tenant, order);
        Assert.Equal((BidState.Filled, pool.Id), (filled.State, Assert.Single(filled.Fills).PoolId));
        Assert.Null((await _s.PoolView(pool.Id))!.SuspendedBecause);
    }

    /// <summary>
    /// Two providers registered one credit code before companies were verified. The one that activates second is flagged
    /// as a duplicate for the regulator; its pools used to keep selling, and a voucher paid them once the company behind
    /// the code was approved. Now they sell nothing until a regulator verifies that provider itself.
    /// </summary>
    [Fact]
    public async Task Company_a_duplicate_provider_flagged_at_activation_sells_nothing_from_its_pools()
    {
        var site = Scenario.Site("Heilongjiang");
        var (holder, code) = await _s.Provider([site]);
        var registration = (await cluster.Grains.GetGrain<IProviderGrain>(holder).Get())!.Registration;
        var duplicate = Scenario.Unique("prov");
        var poolId = Scenario.Unique("pool");
        var storage = cluster.Cluster.GetSiloServiceProvider().GetRequiredKeyedService<Orleans.Storage.IGrainStorage>(Names.Storage.Grains);
        await storage.WriteStateAsync("provider", GrainId.Create("provider", duplicate), new Orleans.GrainState<ProviderState>(new ProviderState
        {
            Registration = registration with { Name = "Duplicate" },
            RegisteredAt = _s.Now,
            Pools = { [poolId] = "RTX4090-24G" },
        }));
        await cluster.Grains.GetGrain<IMarketGrain>("RTX4090-24G").ListPool(new PoolSpec(poolId, duplicate, code, site, "RTX4090-24G", 8, 1));
        var (tenant, _) = await _s.Tenant();
        var order = _s.Order(gpus: 8, hours: 2, startInHours: 2, maxPrice: 1, model: "RTX4090-24G", provinces: ["Heilongjiang"]);

        var flagged = (await cluster.Grains.GetGrain<IProviderGrain>(duplicate).Get())!.Status!;
        Assert.Equal((CompanyState.Pending, "creditCode"), (flagged.State, Assert.Single(flagged.Changes).Field));

        var refused = await _s.Bid(tenant, order);
        Assert.Equal((BidState.Rejected, "no-capacity"), (refused.State, refused.ReasonCode));
        Assert.Equal(CompanyVerification.NotVerified, (await _s.PoolView(poolId))!.SuspendedBecause);
    }

    /// <summary>
    /// A provider that activates brings each of its pools to what it stands on now, with one read per pool: here a pool
    /// left selling with an old reliability score by a provider that is pending review and too new to have a score.
    /// </summary>
    [Fact]
    public async Task Company_a_provider_that_activates_brings_its_pools_to_its_verification_and_reliability_now()
    {
        var site = Scenario.Site("Ningxia");
        var provider = Scenario.Unique("prov");
        var poolId = Scenario.Unique("pool");
        var code = Scenario.NewCreditCode();
        var storage = cluster.Cluster.GetSiloServiceProvider().GetRequiredKeyedService<Orleans.Storage.IGrainStorage>(Names.Storage.Grains);
        await storage.WriteStateAsync("provider", GrainId.Create("provider", provider), new Orleans.GrainState<ProviderState>(new ProviderState
        {
            Registration = new ProviderRegistration("Restarted", code, new List<Site> { site }, Scenario.Installed([site], 8).ToList()),
            RegisteredAt = _s.Now,
            Pools = { [poolId] = "RTX4090-24G" },
        }));
        await cluster.Grains.GetGrain<IMarketGrain>("RTX4090-24G").ListPool(new PoolSpec(poolId, provider, code, site, "RTX4090-24G", 8, 90_000_000));
        var pool = cluster.Grains.GetGrain<IGpuPoolGrain>(poolId);
        Assert.True(await pool.SetReliability(5_000));
        Assert.Equal(new PoolStanding(null, 5_000), await pool.Standing());

        Assert.Equal(CompanyState.Pending, (await cluster.Grains.GetGrain<IProviderGrain>(provider).Get())!.Status!.State);

        Assert.Equal(new PoolStanding(CompanyVerification.NotVerified, null), await pool.Standing());
        Assert.Equal(CompanyVerification.NotVerified, (await _s.PoolView(poolId))!.SuspendedBecause);
    }
}
