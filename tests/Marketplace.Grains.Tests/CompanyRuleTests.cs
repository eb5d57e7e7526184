using Marketplace.Testing;
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
}
