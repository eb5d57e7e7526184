using Marketplace.Data;
using Marketplace.Storage;
using Microsoft.Extensions.DependencyInjection;
using Marketplace.Testing;
using Xunit;

namespace Marketplace.Grains.Tests;

/// <summary>DESIGN rules 1, 2, 3, 7 and 8 on the voucher side, one test per rule, against a real cluster and database.</summary>
[Collection(VoucherCollection.Name)]
public sealed class VoucherRuleTests(VoucherCluster cluster)
{
    private readonly Scenario _s = new(cluster);
    private const long Cap = 5_000_000; // 50,000 CNY in fen

    private IVoucherGrain Voucher(string id) => cluster.Grains.GetGrain<IVoucherGrain>(id);

    private static FundingRequest Rental(string tenantId, string providerId, string? providerCode, DateTimeOffset start, long cost, string? reservationId = null) =>
        new(reservationId ?? Scenario.Unique("res"), tenantId, providerId, providerCode, start, start.AddHours(2), cost);

    [Fact]
    public async Task Rule1_face_value_is_the_cap_by_default_and_never_above_it()
    {
        var program = await _s.Program();
        var (tenant, _) = await _s.Tenant();
        Assert.Equal(Cap, (await _s.Claim(program, tenant)).FaceValueFen);

        var (other, _) = await _s.Tenant();
        var error = await Assert.ThrowsAsync<DomainException>(() => _s.Claim(program, other, Cap + 1));
        Assert.Equal("amount-above-cap", error.Code);
        Assert.Equal(1_000_000, (await _s.Claim(program, other, 1_000_000)).FaceValueFen);
    }

    [Fact]
    public async Task Rule1_total_issued_never_exceeds_the_budget_under_200_concurrent_claims()
    {
        // Room for 49 full vouchers and half of one more.
        var budget = 49 * Cap + Cap / 2;
        var program = await _s.Program(d => d with { BudgetFen = budget });
        var tenants = await Task.WhenAll(Enumerable.Range(0, 200).Select(_ => _s.Tenant()));

        var results = await Task.WhenAll(tenants.Select(async t =>
        {
            try
            {
                return (await _s.Claim(program, t.Id)).FaceValueFen;
            }
            catch (DomainException e) when (e.Code == "budget-exhausted")
            {
                return 0;
            }
        }));

        Assert.Equal(budget, results.Sum());
        Assert.Equal(50, results.Count(r => r > 0));
        Assert.Equal(1, results.Count(r => r == Cap / 2));
        Assert.Equal(budget, await cluster.Database.ScalarAsync<long>("SELECT issued_fen FROM programs WHERE id = @p", ("p", program)));
        Assert.Equal(0, await cluster.Database.ScalarAsync<long>(
            "SELECT coalesce(sum(amount_fen), 0) FROM ledger_entries WHERE account = @a", ("a", Accounts.ProgramBudget(program))));
    }

    [Fact]
    public async Task Rule2_eligibility_checks_tenant_kind_province_window_and_one_open_voucher()
    {
        var smesOnly = await _s.Program(d => d with { AllowedTenantKinds = [TenantKind.Sme] });
        var (team, _) = await _s.Tenant(kind: TenantKind.StartupTeam);
        Assert.Equal("tenant-kind-not-eligible", (await Assert.ThrowsAsync<DomainException>(() => _s.Claim(smesOnly, team))).Code);

        var beijing = await _s.Program();
        var (shanghaiFirm, _) = await _s.Tenant(province: "Shanghai");
        Assert.Equal("province-not-eligible", (await Assert.ThrowsAsync<DomainException>(() => _s.Claim(beijing, shanghaiFirm))).Code);

        var notYet = await _s.Program(d => d with { ClaimOpensAt = _s.Now.AddDays(1), ClaimClosesAt = _s.Now.AddDays(30) });
        var closed = await _s.Program(d => d with { ClaimOpensAt = _s.Now.AddDays(-30), ClaimClosesAt = _s.Now.AddSeconds(-1) });
        var (firm, _) = await _s.Tenant();
        Assert.Equal("claim-window-not-open", (await Assert.ThrowsAsync<DomainException>(() => _s.Claim(notYet, firm))).Code);
        Assert.Equal("claim-window-closed", (await Assert.ThrowsAsync<DomainException>(() => _s.Claim(closed, firm))).Code);

        // Eligible each way: a startup team on its credibility statement, an SME with its code.
        Assert.Equal(VoucherState.Claimed, (await _s.Claim(beijing, team)).State);
        Assert.Equal(VoucherState.Claimed, (await _s.Claim(beijing, firm)).State);
        Assert.Equal("open-voucher-exists", (await Assert.ThrowsAsync<DomainException>(() => _s.Claim(beijing, firm))).Code);

        var generous = await _s.Program(d => d with { AllowMultipleOpenVouchers = true });
        await _s.Claim(generous, firm);
        Assert.Equal(VoucherState.Claimed, (await _s.Claim(generous, firm)).State);
    }

    [Fact]
    public async Task Rule2_the_same_claim_key_returns_the_same_voucher()
    {
        var program = await _s.Program();
        var (tenant, _) = await _s.Tenant();
        var claim = new ClaimRequest(tenant, "key-1", null);
        var first = await cluster.Grains.GetGrain<IVoucherProgramGrain>(program).Claim(claim);
        var again = await cluster.Grains.GetGrain<IVoucherProgramGrain>(program).Claim(claim);
        Assert.Equal(first.Id, again.Id);
        Assert.Equal(Cap, await cluster.Database.ScalarAsync<long>("SELECT issued_fen FROM programs WHERE id = @p", ("p", program)));
    }

    [Fact]
    public async Task Rule1_a_voucher_registered_on_day_14_becomes_active_and_one_unregistered_after_its_deadline_lapses()
    {
        // A program that gives its validity in days (Beijing's gives three months).
        var program = await _s.Program(d => d with { AllowMultipleOpenVouchers = true, ValidityMonths = null });
        var (tenant, _) = await _s.Tenant();
        var registered = await _s.Claim(program, tenant);
        var forgotten = await _s.Claim(program, tenant);
        var issued = await cluster.Database.ScalarAsync<long>("SELECT issued_fen FROM programs WHERE id = @p", ("p", program));

        cluster.Advance(TimeSpan.FromDays(14));
        var active = await Voucher(registered.Id).RegisterActivity(tenant, new RdActivity("Eval", "Benchmark a model", 100));
        Assert.Equal(VoucherState.Active, active.State);
        Assert.Equal(active.RegisteredAt!.Value.AddDays(90), active.ExpiresAt);

        cluster.Advance(forgotten.RegistrationDeadline - _s.Now);
        Assert.Equal(VoucherState.Claimed, (await Voucher(forgotten.Id).Get())!.State); // exactly at the deadline: still in time
        cluster.Advance(TimeSpan.FromSeconds(1));
        await cluster.Grains.GetGrain<ISweeperGrain>(0).Tick();

        var lapsed = (await cluster.Grains.GetGrain<IVoucherGrain>(forgotten.Id).Get())!;
        Assert.Equal(VoucherState.Lapsed, lapsed.State);
        Assert.Equal(Cap, lapsed.ReturnedFen);
        Assert.Equal(0, lapsed.AvailableFen);
        var error = await Assert.ThrowsAsync<DomainException>(() => Voucher(forgotten.Id).RegisterActivity(tenant, new RdActivity("Late", "Too late", 1)));
        Assert.Equal("registration-deadline-passed", error.Code);
        var program2 = await cluster.Grains.GetGrain<IVoucherProgramGrain>(program).Get();
        Assert.Equal(issued, program2!.Totals.IssuedFen);
        Assert.Equal(Cap, program2.Totals.ReturnedFen);
        Assert.Equal(1, await cluster.Database.ScalarAsync<long>(
            "SELECT count(*) FROM ledger_transactions WHERE id = @id AND kind = 'return'", ("id", $"return:{forgotten.Id}")));
    }

    [Fact]
    public async Task Rule1_the_registration_deadline_is_the_end_of_the_15th_day_in_Beijing_time()
    {
        var program = await _s.Program(d => d with { AllowMultipleOpenVouchers = true });
        var (tenant, _) = await _s.Tenant();
        // Whatever the hour of the claim, the 15 days start the next Beijing day and end at midnight Beijing time (UTC+8).
        for (var hour = 0; hour < 24; hour += 5)
        {
            var claimed = await _s.Claim(program, tenant);
            var beijing = claimed.ClaimedAt.ToOffset(TimeSpan.FromHours(8));
            var expected = new DateTimeOffset(beijing.Year, beijing.Month, beijing.Day, 0, 0, 0, TimeSpan.FromHours(8)).AddDays(16);
            Assert.Equal(expected, claimed.RegistrationDeadline);
            Assert.Equal(TimeSpan.Zero, (claimed.RegistrationDeadline.ToOffset(TimeSpan.FromHours(8))).TimeOfDay);
            cluster.Advance(TimeSpan.FromHours(5));
        }
    }

    [Fact]
    public async Task Rule1_an_active_voucher_expires_after_its_validity_returning_its_value_and_keeping_holds_until_their_rentals_settle()
    {
        var program = await _s.Program(d => d with { ValidityMonths = null }); // valid for 90 days
        var (tenant, _) = await _s.Tenant();
        var (provider, code) = await _s.Provider();
        await _s.Approve(program, provider);
        var voucher = await _s.ActiveVoucher(program, tenant);

        var openHold = Rental(tenant, provider, code, _s.Now.AddDays(10), 300_000);
        Assert.True((await Voucher(voucher.Id).HoldFunds(openHold)).Accepted);
        var captureLater = Rental(tenant, provider, code, _s.Now.AddDays(1), 100_000);
        Assert.True((await Voucher(voucher.Id).HoldFunds(captureLater)).Accepted);
        Assert.Equal(100_000, await Voucher(voucher.Id).Capture(captureLater.ReservationId, 100_000));

        cluster.Advance(TimeSpan.FromDays(90) - TimeSpan.FromSeconds(1));
        Assert.Equal(VoucherState.Active, (await Voucher(voucher.Id).Get())!.State);
        cluster.Advance(TimeSpan.FromSeconds(1));
        await cluster.Grains.GetGrain<ISweeperGrain>(0).Tick();

        var expired = (await Voucher(voucher.Id).Get())!;
        Assert.Equal(VoucherState.Expired, expired.State);
        Assert.Equal((300_000L, 100_000L, Cap - 400_000L), (expired.HeldFen, expired.CapturedFen, expired.ReturnedFen));
        // The open hold's rental ended before the expiry: it still settles from the voucher, and the rest of it goes back.
        Assert.Equal(240_000, await Voucher(voucher.Id).Capture(openHold.ReservationId, 240_000));
        var settled = (await Voucher(voucher.Id).Get())!;
        Assert.Equal((0L, 340_000L, Cap - 340_000L), (settled.HeldFen, settled.CapturedFen, settled.ReturnedFen));
        Assert.Equal(Cap - 340_000, (await cluster.Grains.GetGrain<IVoucherProgramGrain>(program).Get())!.Totals.ReturnedFen);
        await LedgerAssert.VoucherMatchesLedger(cluster.Database, voucher.Id);
    }

    [Fact]
    public async Task Rule3_a_voucher_pays_only_the_program_coverage_share()
    {
        var program = await _s.Program(d => d with { CoverageBasisPoints = 8_000 });
        var (tenant, _) = await _s.Tenant();
        var (provider, code) = await _s.Provider();
        await _s.Approve(program, provider);
        var voucher = await _s.ActiveVoucher(program, tenant, amountFen: 100_000);

        Assert.Equal(80_000, (await Voucher(voucher.Id).HoldFunds(Rental(tenant, provider, code, _s.Now.AddDays(1), 100_000))).AmountFen);
        // 20,000 fen left: the next rental gets what is left, not its 80%.
        Assert.Equal(20_000, (await Voucher(voucher.Id).HoldFunds(Rental(tenant, provider, code, _s.Now.AddDays(1), 100_000))).AmountFen);
        var exhausted = await Voucher(voucher.Id).HoldFunds(Rental(tenant, provider, code, _s.Now.AddDays(1), 100_000));
        Assert.Equal("voucher-exhausted", exhausted.RefusalCode);
    }

    [Fact]
    public async Task Rule3_a_voucher_pays_only_providers_approved_on_the_rental_date()
    {
        var program = await _s.Program();
        var (tenant, _) = await _s.Tenant();
        var (provider, code) = await _s.Provider();
        var voucher = await _s.ActiveVoucher(program, tenant);
        var approvedFrom = _s.Now.AddDays(5);
        var removedFrom = _s.Now.AddDays(20);
        var programGrain = cluster.Grains.GetGrain<IVoucherProgramGrain>(program);
        await programGrain.PublishProviderNotice(new ProviderNotice("2026-b1", code, true, approvedFrom));
        await programGrain.PublishProviderNotice(new ProviderNotice("2026-b2", code, false, removedFrom));

        Assert.False(await programGrain.IsCompanyApproved(code, approvedFrom.AddSeconds(-1)));
        Assert.True(await programGrain.IsCompanyApproved(code, approvedFrom));
        Assert.True(await programGrain.IsCompanyApproved(code, removedFrom.AddSeconds(-1)));
        Assert.False(await programGrain.IsCompanyApproved(code, removedFrom));

        Assert.Equal("provider-not-approved", (await Voucher(voucher.Id).HoldFunds(Rental(tenant, provider, code, approvedFrom.AddHours(-1), 1_000))).RefusalCode);
        Assert.True((await Voucher(voucher.Id).HoldFunds(Rental(tenant, provider, code, approvedFrom, 1_000))).Accepted);
        Assert.True((await Voucher(voucher.Id).HoldFunds(Rental(tenant, provider, code, removedFrom.AddHours(-3), 1_000))).Accepted);
        Assert.Equal("provider-not-approved", (await Voucher(voucher.Id).HoldFunds(Rental(tenant, provider, code, removedFrom, 1_000))).RefusalCode);

        var sameBatchAgain = programGrain.PublishProviderNotice(new ProviderNotice("2026-b1", code, false, approvedFrom));
        Assert.Equal("notice-exists", (await Assert.ThrowsAsync<DomainException>(() => sameBatchAgain)).Code);
    }

    [Fact]
    public async Task Rule3_a_programme_approves_a_company_by_its_credit_code_even_before_it_registers_and_for_every_site_it_lists()
    {
        var program = await _s.Program();
        var (tenant, _) = await _s.Tenant();
        var voucher = await _s.ActiveVoucher(program, tenant);
        var code = Scenario.NewCreditCode("Gansu");
        await cluster.Grains.GetGrain<IVoucherProgramGrain>(program)
            .PublishProviderNotice(new ProviderNotice(Scenario.Unique("batch"), code, true, _s.Now.AddDays(-1)));

        // The company registers after the notice, with sites in two provinces, and lists a pool at each.
        var (provider, _) = await _s.Provider([Scenario.Site("Gansu", "gs-1"), Scenario.Site("Ningxia", "nx-1")], creditCode: code);
        await _s.Pool(provider, gpus: 2, ask: 1_000, siteId: "gs-1");
        await _s.Pool(provider, gpus: 2, ask: 1_000, siteId: "nx-1");

        Assert.True(await cluster.Grains.GetGrain<IVoucherProgramGrain>(program).IsCompanyApproved(code, _s.Now));
        foreach (var province in new[] { "Gansu", "Ningxia" })
        {
            var fill = (await _s.Bid(tenant, _s.Order(hours: 2, startInHours: 3, provinces: [province], voucherId: voucher.Id))).Fills.Single();
            Assert.Equal((province, 2_000L), (fill.Province, fill.VoucherFen));
        }

        // Removed by naming the provider: the company (its code) is removed, whichever way the approval named it.
        await _s.Notice(program, provider, approved: false, _s.Now);
        var after = await _s.Bid(tenant, _s.Order(hours: 2, startInHours: 3, provinces: ["Ningxia"], voucherId: voucher.Id));
        Assert.Equal((BidState.Rejected, "provider-not-approved"), (after.State, after.ReasonCode));
    }

    [Fact]
    public async Task Rule3_a_notice_published_by_provider_id_before_notices_named_companies_approves_the_company_that_provider_registered()
    {
        var program = await _s.Program();
        var (tenant, _) = await _s.Tenant();
        var (provider, code) = await _s.Provider();
        var unknown = Scenario.Unique("prov");
        var voucher = await _s.ActiveVoucher(program, tenant);
        // Notices as they were stored before they named companies: by provider id only (one of a provider that never registered).
        foreach (var named in new[] { provider, unknown })
        {
            await cluster.Database.ScalarAsync<int>("""
                INSERT INTO program_provider_notices (program_id, batch_id, provider_id, approved, effective_from, published_at)
                VALUES (@p, '2025-b1', @x, true, @e, @e) RETURNING 1
                """, ("p", program), ("x", named), ("e", _s.Now.AddDays(-10)));
        }
        var programGrain = cluster.Grains.GetGrain<IVoucherProgramGrain>(program);
        Assert.False(await programGrain.IsCompanyApproved(code, _s.Now)); // this activation read the notices before

        await cluster.Grains.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);

        Assert.True(await programGrain.IsCompanyApproved(code, _s.Now));
        Assert.True((await Voucher(voucher.Id).HoldFunds(Rental(tenant, provider, code, _s.Now.AddDays(1), 1_000))).Accepted);
        Assert.Equal(code, await cluster.Database.ScalarAsync<string>(
            "SELECT credit_code FROM program_provider_notices WHERE program_id = @p AND provider_id = @x", ("p", program), ("x", provider)));
        Assert.Equal(0L, await cluster.Database.ScalarAsync<long>(
            "SELECT count(credit_code) FROM program_provider_notices WHERE program_id = @p AND provider_id = @x", ("p", program), ("x", unknown)));
        Assert.Equal([code], (await programGrain.Notices()).Select(n => n.CreditCode));
    }

    [Fact]
    public async Task Rule3_old_notices_of_two_providers_registered_under_one_credit_code_leave_the_programme_usable()
    {
        var program = await _s.Program();
        var (first, code) = await _s.Provider();
        // A second provider registered under the same code before codes were held (stored as then: no status).
        var second = Scenario.Unique("prov");
        var storage = cluster.Cluster.GetSiloServiceProvider().GetRequiredKeyedService<Orleans.Storage.IGrainStorage>(Names.Storage.Grains);
        var sites = new[] { Scenario.Site("Gansu") };
        await storage.WriteStateAsync("provider", GrainId.Create("provider", second), new Orleans.GrainState<ProviderState>(new ProviderState
        {
            Registration = new ProviderRegistration($"Provider {second}", code, sites, Scenario.Installed(sites, 8)),
            RegisteredAt = _s.Now,
        }));
        // Both named by provider id in one batch, as notices were stored before they named companies.
        foreach (var named in new[] { first, second })
        {
            await cluster.Database.ScalarAsync<int>("""
                INSERT INTO program_provider_notices (program_id, batch_id, provider_id, approved, effective_from, published_at)
                VALUES (@p, '2025-b1', @x, true, @e, @e) RETURNING 1
                """, ("p", program), ("x", named), ("e", _s.Now.AddDays(-10)));
        }

        await cluster.Grains.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);

        // The company is approved once; the other provider's notice (whichever is resolved second) stays unresolved rather
        // than fail the programme.
        var programGrain = cluster.Grains.GetGrain<IVoucherProgramGrain>(program);
        Assert.True(await programGrain.IsCompanyApproved(code, _s.Now));
        Assert.Equal([code], (await programGrain.Notices()).Select(n => n.CreditCode));
        Assert.Equal((2L, 1L), (await cluster.Database.ScalarAsync<long>("SELECT count(*) FROM program_provider_notices WHERE program_id = @p", ("p", program)),
            await cluster.Database.ScalarAsync<long>("SELECT count(credit_code) FROM program_provider_notices WHERE program_id = @p", ("p", program))));
    }

    [Fact]
    public async Task Rule3_a_voucher_never_pays_a_related_party()
    {
        var program = await _s.Program(d => d with { AllowMultipleOpenVouchers = true });
        var (sister, sisterCode) = await _s.Provider();
        var (tenant, tenantCode) = await _s.Tenant(relatedParties: [sisterCode]);
        var (self, _) = await _s.Provider(creditCode: tenantCode);
        await _s.Approve(program, sister);
        await _s.Approve(program, self);
        var voucher = await _s.ActiveVoucher(program, tenant);

        Assert.Equal("related-party", (await Voucher(voucher.Id).HoldFunds(Rental(tenant, sister, sisterCode, _s.Now.AddDays(1), 1_000))).RefusalCode);
        Assert.Equal("related-party", (await Voucher(voucher.Id).HoldFunds(Rental(tenant, self, tenantCode, _s.Now.AddDays(1), 1_000))).RefusalCode);
    }

    [Fact]
    public async Task Rule3_a_reservation_is_never_funded_twice_unless_every_program_allows_stacking()
    {
        var first = await _s.Program();
        var second = await _s.Program();
        var (tenant, _) = await _s.Tenant();
        var (provider, code) = await _s.Provider();
        await _s.Approve(first, provider);
        await _s.Approve(second, provider);
        var a = await _s.ActiveVoucher(first, tenant);
        var b = await _s.ActiveVoucher(second, tenant);
        var rental = Rental(tenant, provider, code, _s.Now.AddDays(1), 10_000);

        Assert.True((await Voucher(a.Id).HoldFunds(rental)).Accepted);
        Assert.Equal("already-funded", (await Voucher(b.Id).HoldFunds(rental)).RefusalCode);

        // Stackable programmes that each cover 80 %: the second pays 80 % of what the first leaves.
        var stackA = await _s.Program(d => d with { Stackable = true, CoverageBasisPoints = 8_000 });
        var stackB = await _s.Program(d => d with { Stackable = true, CoverageBasisPoints = 8_000 });
        await _s.Approve(stackA, provider);
        await _s.Approve(stackB, provider);
        var c = await _s.ActiveVoucher(stackA, tenant);
        var d = await _s.ActiveVoucher(stackB, tenant);
        var stacked = Rental(tenant, provider, code, _s.Now.AddDays(1), 10_000);
        Assert.Equal(8_000, (await Voucher(c.Id).HoldFunds(stacked)).AmountFen);
        Assert.Equal(1_600, (await Voucher(d.Id).HoldFunds(stacked)).AmountFen);
    }

    [Fact]
    public async Task Rule3_each_stacked_voucher_pays_its_share_of_what_is_left_and_together_never_more_than_the_cost()
    {
        var (tenant, _) = await _s.Tenant();
        var (provider, code) = await _s.Provider();
        var eighty = await _s.Program(d => d with { Stackable = true, CoverageBasisPoints = 8_000 });
        var alsoEighty = await _s.Program(d => d with { Stackable = true, CoverageBasisPoints = 8_000 });
        var whole = await _s.Program(d => d with { Stackable = true, CoverageBasisPoints = 10_000 });
        var oneMore = await _s.Program(d => d with { Stackable = true, CoverageBasisPoints = 10_000 });
        var vouchers = new List<VoucherView>();
        foreach (var program in new[] { eighty, alsoEighty, whole, oneMore })
        {
            await _s.Approve(program, provider);
            vouchers.Add(await _s.ActiveVoucher(program, tenant));
        }
        const long cost = 10_001;
        var rental = Rental(tenant, provider, code, _s.Now.AddDays(1), cost);

        Assert.Equal(8_000, (await Voucher(vouchers[0].Id).HoldFunds(rental)).AmountFen);
        Assert.Equal(1_600, (await Voucher(vouchers[1].Id).HoldFunds(rental)).AmountFen); // 80 % of the 2,001 left, rounded down
        Assert.Equal(401, (await Voucher(vouchers[2].Id).HoldFunds(rental)).AmountFen);   // the whole of what is left, no more
        Assert.Equal("already-funded", (await Voucher(vouchers[3].Id).HoldFunds(rental)).RefusalCode);
        Assert.Equal(cost, await cluster.Database.ScalarAsync<long>(
            "SELECT sum(amount_fen) FROM voucher_holds WHERE reservation_id = @r AND state = 'Held'", ("r", rental.ReservationId)));
        Assert.Equal(Cap, (await Voucher(vouchers[3].Id).Get())!.AvailableFen);
    }

    [Fact]
    public async Task Rule1_a_Beijing_voucher_is_valid_for_three_calendar_months_in_Beijing_time()
    {
        var beijing = TimeSpan.FromHours(8);
        var program = await _s.Program(); // the Beijing preset: "valid for up to three months"
        var (tenant, _) = await _s.Tenant();
        var voucher = await _s.ActiveVoucher(program, tenant);

        var registered = voucher.RegisteredAt!.Value.ToOffset(beijing);
        var expected = new DateTimeOffset(registered.Year, registered.Month, registered.Day, 0, 0, 0, beijing).AddMonths(3).AddDays(1);
        Assert.Equal(expected, voucher.ExpiresAt);

        cluster.Advance(expected - _s.Now - TimeSpan.FromSeconds(1));
        Assert.Equal(VoucherState.Active, (await Voucher(voucher.Id).Get())!.State);
        cluster.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(VoucherState.Expired, (await Voucher(voucher.Id).Get())!.State);
    }

    [Fact]
    public async Task Rule1_terms_without_validity_months_keep_the_definition_hash_they_were_stored_with()
    {
        var id = Scenario.Unique("prog");
        var opens = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var terms = new ProgramDefinition("Voucher", "Commission", "Beijing", opens, opens.AddYears(1), 1_000_000, 100_000, 8_000,
            [TenantKind.Sme], 15, 90, false, false, null);
        // The JSON these terms were hashed over before programs could give months: a field left out adds nothing to it.
        var storedBefore = """
            {"name":"Voucher","issuer":"Commission","province":"Beijing","claimOpensAt":"2026-01-01T00:00:00+00:00",
            "claimClosesAt":"2027-01-01T00:00:00+00:00","budgetFen":1000000,"voucherCapFen":100000,"coverageBasisPoints":8000,
            "allowedTenantKinds":["Sme"],"registrationDeadlineDays":15,"validityDays":90,"stackable":false,"allowMultipleOpenVouchers":false,
            "assumptions":null}
            """.ReplaceLineEndings("");
        var program = cluster.Grains.GetGrain<IVoucherProgramGrain>(id);
        await program.Create(terms);

        Assert.Equal(Ids.ContentHash(storedBefore),
            await cluster.Database.ScalarAsync<string>("SELECT definition_hash FROM programs WHERE id = @p", ("p", id)));
        Assert.Equal(id, (await program.Create(terms)).Id); // the same terms again are the same program
        Assert.Equal("program-exists", (await Assert.ThrowsAsync<DomainException>(() => program.Create(terms with { ValidityMonths = 3 }))).Code);
    }

    [Fact]
    public async Task Rule7_a_rental_that_ends_by_its_voucher_expiry_is_settled_from_the_voucher_even_if_the_voucher_is_read_first()
    {
        var program = await _s.Program(d => d with { CoverageBasisPoints = 5_000 });
        var (tenant, _) = await _s.Tenant();
        var voucher = await _s.ActiveVoucher(program, tenant);
        var expiresAt = voucher.ExpiresAt!.Value;
        // Book the last two whole hours before the expiry, from three hours before it.
        var lastHour = Hours.Floor(expiresAt);
        cluster.Advance(Hours.ToTime(lastHour - 3) - _s.Now);
        var (provider, _) = await _s.Provider([Scenario.Site("Ningxia")]);
        await _s.Pool(provider, gpus: 1, ask: 1_000);
        await _s.Approve(program, provider);
        var fill = (await _s.Bid(tenant, _s.Order(hours: 2, startInHours: 1, provinces: ["Ningxia"], voucherId: voucher.Id))).Fills.Single();
        Assert.Equal((Hours.ToTime(lastHour), 1_000L), (fill.EndsAt, fill.VoucherFen)); // half of 2 h × 1,000 fen

        // The rental is over and the voucher expires; someone reads the voucher before the sweeper settles the rental.
        cluster.Advance(expiresAt - _s.Now);
        Assert.Equal(VoucherState.Expired, (await _s.Voucher(voucher.Id))!.State);
        await cluster.Grains.GetGrain<ISweeperGrain>(0).Tick();

        var settled = (await _s.Reservation(fill.ReservationId))!;
        Assert.Equal((ReservationState.Completed, 1_000L, 1_000L), (settled.State, settled.Settlement!.VoucherFen, settled.Settlement.CashFen));
        var ended = (await _s.Voucher(voucher.Id))!;
        Assert.Equal((0L, 1_000L, Cap - 1_000L), (ended.HeldFen, ended.CapturedFen, ended.ReturnedFen));
        // The voucher, its program (returns) and the reservation (funds) each agree with the ledger.
        var report = await new InvariantChecker(cluster.Database.DataSource).CheckAsync(_s.Now);
        string[] mine = [$"voucher {voucher.Id}", $"program {program}", $"reservation {fill.ReservationId}"];
        Assert.DoesNotContain(report.Violations, v => mine.Contains(v.Subject));
        await LedgerAssert.EveryTransactionBalanced(cluster.Database);
    }

    [Fact]
    public async Task Rule3_a_notice_removing_a_provider_applies_to_reservations_made_after_it_and_confirmed_ones_keep_their_funding()
    {
        var program = await _s.Program(d => d with { CoverageBasisPoints = 5_000 });
        var (tenant, _) = await _s.Tenant();
        var voucher = await _s.ActiveVoucher(program, tenant);
        var (provider, _) = await _s.Provider([Scenario.Site("Qinghai")]);
        await _s.Pool(provider, gpus: 2, ask: 1_000);
        await _s.Approve(program, provider);
        var confirmed = (await _s.Bid(tenant, _s.Order(hours: 2, startInHours: 3, provinces: ["Qinghai"], voucherId: voucher.Id))).Fills.Single();
        Assert.Equal(1_000, confirmed.VoucherFen);

        // Removed from now on, before the confirmed rental starts.
        await _s.Notice(program, provider, approved: false, _s.Now);
        var after = await _s.Bid(tenant, _s.Order(hours: 2, startInHours: 3, provinces: ["Qinghai"], voucherId: voucher.Id));
        Assert.Equal((BidState.Rejected, "provider-not-approved"), (after.State, after.ReasonCode));

        cluster.Advance(confirmed.EndsAt - _s.Now);
        await cluster.Grains.GetGrain<ISweeperGrain>(0).Tick();
        var settled = (await _s.Reservation(confirmed.ReservationId))!;
        Assert.Equal((ReservationState.Completed, 1_000L, 1_000L), (settled.State, settled.Settlement!.VoucherFen, settled.Settlement.CashFen));
        Assert.Equal(1_000, (await _s.Voucher(voucher.Id))!.CapturedFen);
    }

    [Fact]
    public async Task Rule3_hold_capture_and_release_are_idempotent_by_reservation()
    {
        var program = await _s.Program();
        var (tenant, _) = await _s.Tenant();
        var (provider, code) = await _s.Provider();
        await _s.Approve(program, provider);
        var voucher = await _s.ActiveVoucher(program, tenant);
        var rental = Rental(tenant, provider, code, _s.Now.AddDays(1), 50_000);

        var held = await Voucher(voucher.Id).HoldFunds(rental);
        Assert.Equal(held, await Voucher(voucher.Id).HoldFunds(rental));
        Assert.Equal("hold-conflict", (await Assert.ThrowsAsync<DomainException>(() => Voucher(voucher.Id).HoldFunds(rental with { RentalCostFen = 60_000 }))).Code);

        Assert.Equal(30_000, await Voucher(voucher.Id).Capture(rental.ReservationId, 30_000));
        Assert.Equal(30_000, await Voucher(voucher.Id).Capture(rental.ReservationId, 30_000));
        Assert.Equal("capture-conflict", (await Assert.ThrowsAsync<DomainException>(() => Voucher(voucher.Id).Capture(rental.ReservationId, 40_000))).Code);

        var released = Rental(tenant, provider, code, _s.Now.AddDays(1), 20_000);
        await Voucher(voucher.Id).HoldFunds(released);
        await Voucher(voucher.Id).Release(released.ReservationId);
        await Voucher(voucher.Id).Release(released.ReservationId);

        var view = (await Voucher(voucher.Id).Get())!;
        Assert.Equal(0, view.HeldFen);
        Assert.Equal(30_000, view.CapturedFen);
        Assert.Equal(Cap - 30_000, view.AvailableFen);
        // Each step posted once: hold, capture and release of the unused 20,000 fen of the first; hold and release of the second.
        Assert.Equal(
            string.Join(",", new[]
            {
                $"capture:{voucher.Id}:{rental.ReservationId}", $"hold:{voucher.Id}:{released.ReservationId}", $"hold:{voucher.Id}:{rental.ReservationId}",
                $"release:{voucher.Id}:{released.ReservationId}", $"release:{voucher.Id}:{rental.ReservationId}",
            }.Order(StringComparer.Ordinal)),
            await cluster.Database.ScalarAsync<string>(
                "SELECT string_agg(id, ',' ORDER BY id COLLATE \"C\") FROM ledger_transactions WHERE voucher_id = @v AND kind <> 'claim'", ("v", voucher.Id)));
        await LedgerAssert.VoucherMatchesLedger(cluster.Database, voucher.Id);
    }

    [Fact]
    public async Task Rule1_holds_and_captures_stay_within_face_value_under_1000_concurrent_calls()
    {
        var program = await _s.Program(d => d with { AllowMultipleOpenVouchers = true });
        var (provider, code) = await _s.Provider();
        await _s.Approve(program, provider);
        var owners = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => _s.Tenant()));
        var vouchers = await Task.WhenAll(owners.Select(o => _s.ActiveVoucher(program, o.Id, amountFen: 2_000_000)));

        var random = new Random(7);
        var plan = Enumerable.Range(0, 1_000).Select(i =>
        {
            var v = random.Next(vouchers.Length);
            return (Voucher: vouchers[v].Id, Tenant: owners[v].Id, Reservation: $"r{random.Next(150)}", Op: random.Next(3), Cost: random.Next(1, 60) * 10_000L);
        }).ToList();

        await Task.WhenAll(plan.Select(async step =>
        {
            try
            {
                var grain = Voucher(step.Voucher);
                switch (step.Op)
                {
                    case 0:
                        await grain.HoldFunds(Rental(step.Tenant, provider, code, _s.Now.AddDays(1), step.Cost, $"{step.Voucher}:{step.Reservation}"));
                        break;
                    case 1:
                        await grain.Capture($"{step.Voucher}:{step.Reservation}", step.Cost / 2);
                        break;
                    default:
                        await grain.Release($"{step.Voucher}:{step.Reservation}");
                        break;
                }
            }
            catch (DomainException)
            {
                // Conflicts and captures of unknown holds are expected refusals in a random mix.
            }
        }));

        foreach (var voucher in vouchers)
        {
            var view = (await Voucher(voucher.Id).Get())!;
            Assert.True(view.HeldFen + view.CapturedFen + view.ReturnedFen <= view.FaceValueFen);
            await LedgerAssert.VoucherMatchesLedger(cluster.Database, voucher.Id);
        }
        await LedgerAssert.EveryTransactionBalanced(cluster.Database);
    }
}
