using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Marketplace.Testing;
using Xunit;

namespace Marketplace.Web.Tests;

/// <summary>The company rules as a user meets them through the API: one registration per credit code, the province in the code, site capacity.</summary>
[Collection(PlatformCollection.Name)]
public sealed class CompanyApiTests(PlatformCluster web)
{
    private readonly Api _api = new(web);

    private static async Task<JsonElement> Problem(HttpResponseMessage response, HttpStatusCode status, string code)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"{response.StatusCode}: {body}");
        var problem = JsonDocument.Parse(body).RootElement.Clone();
        Assert.Equal(code, problem.GetProperty("code").GetString());
        Assert.Equal($"/problems/{code}", problem.GetProperty("type").GetString());
        return problem;
    }

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
}
