using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Marketplace.Testing;
using Marketplace.Web.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Marketplace.Web.Tests;

/// <summary>The company rules as a user meets them through the API: one registration per credit code, the province in the code, site capacity.</summary>
[Collection(PlatformCollection.Name)]
public sealed class CompanyApiTests(PlatformCluster web)
{
    private readonly Api _api = new(web);
    private readonly Scenario _s = new(web);

    private static Task<JsonElement> Problem(HttpResponseMessage response, HttpStatusCode status, string code) => Api.Problem(response, status, code);

    private static object Tenant(string code, string province = "Beijing") => new { name = "Acme AI", kind = "Sme", province, creditCode = code };

    [Fact]
    public async Task Company_the_same_credit_code_under_a_second_tenant_id_is_409_credit_code_taken()
    {
        var code = Scenario.NewCreditCode();
        Assert.Equal(HttpStatusCode.OK, (await web.Sme(Scenario.Unique("tenant")).PostAsJsonAsync("/api/v1/tenants", Tenant(code))).StatusCode);

        var second = web.Sme(Scenario.Unique("tenant"));
        await Problem(await second.PostAsJsonAsync("/api/v1/tenants", Tenant(code)), HttpStatusCode.Conflict, "credit-code-taken");
        Assert.Equal(HttpStatusCode.NotFound, (await second.GetAsync("/api/v1/tenants/me")).StatusCode);
    }

    [Fact]
    public async Task Company_a_credit_code_registered_in_another_province_is_422_with_a_field_error()
    {
        var code = Scenario.NewCreditCode("Beijing");
        var problem = await Problem(await web.Sme(Scenario.Unique("tenant")).PostAsJsonAsync("/api/v1/tenants", Tenant(code, "Shanghai")),
            HttpStatusCode.UnprocessableEntity, "validation");
        Assert.Equal($"characters 3 to 8 ('{code[2..8]}') say the company is registered in Beijing, not Shanghai",
            Assert.Single(problem.GetProperty("errors").GetProperty("creditCode").EnumerateArray()).GetString());
    }

    [Fact]
    public async Task Rule3_an_admin_approves_a_company_by_its_credit_code_and_a_code_that_is_not_one_is_422()
    {
        var program = await _s.Program();
        var admin = web.Admin();
        var notice = new { batchId = Scenario.Unique("batch"), effectiveFrom = DateTimeOffset.UtcNow.AddDays(-1) };

        var bad = await Problem(await admin.PutAsJsonAsync($"/api/v1/programs/{program}/companies/91110000NOTACODE0", notice),
            HttpStatusCode.UnprocessableEntity, "validation");
        Assert.True(bad.GetProperty("errors").TryGetProperty("creditCode", out _), bad.ToString());

        // A company approved before it registers; the same company named again through the provider it then registers is
        // one notice per batch (same terms: the same answer; other terms: 409).
        var code = Scenario.NewCreditCode("Gansu");
        var approved = await admin.PutAsJsonAsync($"/api/v1/programs/{program}/companies/{code}", notice);
        Assert.Equal(HttpStatusCode.OK, approved.StatusCode);
        var view = await approved.Content.ReadFromJsonAsync<JsonElement>();
        var stored = Assert.Single(view.GetProperty("providerNotices").EnumerateArray());
        Assert.Equal((code, true), (stored.GetProperty("creditCode").GetString(), stored.GetProperty("approved").GetBoolean()));

        var (provider, _) = await _s.Provider(creditCode: code);
        Assert.Equal(HttpStatusCode.OK, (await admin.PutAsJsonAsync($"/api/v1/programs/{program}/providers/{provider}", notice)).StatusCode);
        await Problem(await admin.DeleteAsync($"/api/v1/programs/{program}/providers/{provider}?batchId={notice.batchId}&effectiveFrom=2026-01-01T00:00:00Z"),
            HttpStatusCode.Conflict, "notice-exists");
    }

    [Fact]
    public async Task Rule4_a_pool_beyond_the_gpus_installed_at_its_site_is_422_site_capacity_exceeded()
    {
        var id = Scenario.Unique("prov");
        var client = web.Provider(id);
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsJsonAsync("/api/v1/providers", new
        {
            name = "Gansu Compute", creditCode = Scenario.NewCreditCode("Gansu"),
            sites = new[] { new { siteId = "site-1", name = "Gansu DC", province = "Gansu", city = "Lanzhou", latitude = 36.06, longitude = 103.83,
                greenPowerPercent = 60, installedGpus = new Dictionary<string, int> { ["H800-80G"] = 12 } } },
        })).StatusCode);
        await _api.Verify("providers", id);
        var pool = await _api.Pool(client, id, gpus: 8);

        var problem = await Problem(await client.PostJson($"/api/v1/providers/{id}/pools",
            new { siteId = "site-1", gpuModel = "H800-80G", gpuCount = 5, askFenPerGpuHour = 1_500 }, Scenario.Unique("pool-key")),
            HttpStatusCode.UnprocessableEntity, "site-capacity-exceeded");
        Assert.True(problem.GetProperty("errors").TryGetProperty("gpuCount", out _));
        await Problem(await client.PatchAsJsonAsync($"/api/v1/providers/{id}/pools/{pool.Id}", new { gpuCount = 13 }),
            HttpStatusCode.UnprocessableEntity, "site-capacity-exceeded");
        Assert.Equal(HttpStatusCode.Created, (await client.PostJson($"/api/v1/providers/{id}/pools",
            new { siteId = "site-1", gpuModel = "H800-80G", gpuCount = 4, askFenPerGpuHour = 1_500 }, Scenario.Unique("pool-key"))).StatusCode);
    }

    [Fact]
    public async Task Rule4_a_site_must_declare_its_installed_gpus()
    {
        var problem = await Problem(await web.Provider(Scenario.Unique("prov")).PostAsJsonAsync("/api/v1/providers", new
        {
            name = "Gansu Compute", creditCode = Scenario.NewCreditCode("Gansu"),
            sites = new[] { new { siteId = "site-1", name = "Gansu DC", province = "Gansu", city = "Lanzhou", latitude = 36.06, longitude = 103.83, greenPowerPercent = 60 } },
        }), HttpStatusCode.UnprocessableEntity, "validation");
        Assert.True(problem.GetProperty("errors").TryGetProperty("sites[0].installedGpus", out _));
    }

    [Fact]
    public async Task Company_an_unverified_tenant_can_read_but_not_claim_or_bid_403_company_not_verified()
    {
        var id = Scenario.Unique("tenant");
        var sme = web.Sme(id);
        Assert.Equal(HttpStatusCode.OK, (await sme.PostAsJsonAsync("/api/v1/tenants", Tenant(Scenario.NewCreditCode()))).StatusCode);
        var me = await sme.GetFromJsonAsync<JsonElement>("/api/v1/tenants/me");
        Assert.Equal("Pending", me.GetProperty("status").GetProperty("state").GetString());

        var program = await _s.Program();
        await Problem(await sme.PostJson($"/api/v1/programs/{program}/vouchers", new { }, Scenario.Unique("claim")), HttpStatusCode.Forbidden, "company-not-verified");
        var start = Hours.ToTime(Hours.Floor(DateTimeOffset.UtcNow) + 2);
        await Problem(await sme.PostJson("/api/v1/bids", new
        {
            gpuModel = "H800-80G", gpuCount = 1, durationHours = 1, earliestStart = start, latestStart = start, maxFenPerGpuHour = 2_000, timeInForce = "Ioc",
        }, Scenario.Unique("bid")), HttpStatusCode.Forbidden, "company-not-verified");
    }

    [Fact]
    public async Task Company_an_unverified_provider_cannot_list_a_pool_403_company_not_verified()
    {
        var id = Scenario.Unique("prov");
        var client = web.Provider(id);
        Assert.Equal(HttpStatusCode.OK, (await MarketSeed.RegisterProviderAsync(client, "Gansu", "site-1")).StatusCode);
        await Problem(await client.PostJson($"/api/v1/providers/{id}/pools",
            new { siteId = "site-1", gpuModel = "H800-80G", gpuCount = 8, askFenPerGpuHour = 1_500 }, Scenario.Unique("pool-key")),
            HttpStatusCode.Forbidden, "company-not-verified");
    }

    [Fact]
    public async Task Company_the_regulator_sees_pending_registrations_verifies_them_and_sees_a_later_change_as_a_diff()
    {
        var id = Scenario.Unique("tenant");
        var sme = web.Sme(id);
        var code = Scenario.NewCreditCode();
        Assert.Equal(HttpStatusCode.OK, (await sme.PostAsJsonAsync("/api/v1/tenants", Tenant(code))).StatusCode);
        using var regulator = web.Client(Names.Roles.Regulator);

        var pending = await Queued(regulator, "pending", id);
        Assert.Equal(("tenant", code, 1, 0), (pending.GetProperty("party").GetString(), pending.GetProperty("creditCode").GetString(),
            pending.GetProperty("revision").GetInt32(), pending.GetProperty("changes").GetArrayLength()));

        var verified = await regulator.PostAsync($"/api/v1/companies/tenants/{id}/verify?revision=1", null);
        Assert.Equal(HttpStatusCode.OK, verified.StatusCode);
        Assert.Equal("Verified", (await verified.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("state").GetString());
        var program = await _s.Program();
        Assert.Equal(HttpStatusCode.Created, (await sme.PostJson($"/api/v1/programs/{program}/vouchers", new { amountFen = 100_000 }, Scenario.Unique("claim"))).StatusCode);

        // A related party added after verification: pending again, and the regulator sees what changed.
        var related = Scenario.NewCreditCode("Gansu");
        Assert.Equal(HttpStatusCode.OK, (await sme.PostAsJsonAsync("/api/v1/tenants",
            new { name = "Acme AI", kind = "Sme", province = "Beijing", creditCode = code, relatedPartyCreditCodes = new[] { related } })).StatusCode);
        var change = Assert.Single((await Queued(regulator, "pending", id)).GetProperty("changes").EnumerateArray());
        Assert.Equal(("relatedPartyCreditCodes", "", related), (change.GetProperty("field").GetString(), change.GetProperty("before").GetString(),
            change.GetProperty("after").GetString()));

        await Problem(await regulator.PostAsync($"/api/v1/companies/tenants/{id}/verify?revision=1", null), HttpStatusCode.Conflict, "company-changed");
        var noReason = await Problem(await regulator.PostAsJsonAsync($"/api/v1/companies/tenants/{id}/reject", new { }), HttpStatusCode.UnprocessableEntity, "validation");
        Assert.True(noReason.GetProperty("errors").TryGetProperty("reason", out _));
        Assert.Equal(HttpStatusCode.OK, (await regulator.PostAsJsonAsync($"/api/v1/companies/tenants/{id}/reject", new { reason = "Show the related-party agreement." })).StatusCode);
        var rejected = await Queued(regulator, "rejected", id);
        Assert.Equal("Show the related-party agreement.", rejected.GetProperty("reason").GetString());
        await Problem(await regulator.PostAsync($"/api/v1/companies/tenants/{Scenario.Unique("tenant")}/verify", null), HttpStatusCode.NotFound, "not-found");

        // Registration, verification, change and rejection are all on the audit trail.
        await web.Factory.Services.GetRequiredService<AuditLog>().FlushAsync(CancellationToken.None);
        var trail = await web.Admin().GetFromJsonAsync<JsonElement>("/api/v1/audit?pageSize=1000");
        var mine = trail.EnumerateArray().Where(e => e.GetProperty("resource").GetString()!.Contains(id, StringComparison.Ordinal)
                || e.GetProperty("subject").GetString() == id && e.GetProperty("action").GetString() == "POST /api/v1/tenants/")
            .Select(e => (e.GetProperty("action").GetString(), e.GetProperty("statusCode").GetInt32(), e.GetProperty("detail").GetString())).Reverse().ToList();
        Assert.Equal([
            ("POST /api/v1/tenants/", 200, "Pending (revision 1)"),
            ("POST /api/v1/companies/{party}/{id}/verify", 200, "Verified (revision 1)"),
            ("POST /api/v1/tenants/", 200, $"Pending (revision 2): relatedPartyCreditCodes '' → '{related}'"),
            ("POST /api/v1/companies/{party}/{id}/verify", 409, null),
            ("POST /api/v1/companies/{party}/{id}/reject", 422, null),
            ("POST /api/v1/companies/{party}/{id}/reject", 200, $"Rejected (revision 2): Show the related-party agreement.: relatedPartyCreditCodes '' → '{related}'"),
        ], mine);
    }

    private static async Task<JsonElement> Queued(HttpClient regulator, string state, string id)
    {
        var list = await regulator.GetFromJsonAsync<JsonElement>($"/api/v1/companies?state={state}&pageSize=1000");
        return Assert.Single(list.EnumerateArray(), c => c.GetProperty("id").GetString() == id);
    }
}
