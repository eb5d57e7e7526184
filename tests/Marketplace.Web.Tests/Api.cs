using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Marketplace.Testing;
using Xunit;

namespace Marketplace.Web.Tests;

/// <summary>Sets up providers, tenants and programs through the public API, as users do.</summary>
public sealed class Api(WebCluster web)
{
    /// <summary>Asserts the response is a problem with this status and code (and the code's type), and returns it.</summary>
    public static async Task<JsonElement> Problem(HttpResponseMessage response, HttpStatusCode status, string code)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"{response.StatusCode}: {body}");
        var problem = JsonDocument.Parse(body).RootElement.Clone();
        Assert.Equal(code, problem.GetProperty("code").GetString());
        Assert.Equal($"/problems/{code}", problem.GetProperty("type").GetString());
        return problem;
    }

    public async Task<(string ProviderId, HttpClient Client)> Provider(string province = "Gansu", string siteId = "site-1")
    {
        var id = Scenario.Unique("prov");
        var client = web.Provider(id);
        var response = await client.PostAsJsonAsync("/api/v1/providers", new
        {
            name = $"Provider {id}",
            creditCode = Scenario.NewCreditCode(),
            sites = new[] { new { siteId, name = $"{province} DC", province, city = "City", latitude = 36.06, longitude = 103.83, greenPowerPercent = 60, installedGpus = Scenario.InstalledGpus() } },
        });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await Verify("providers", id);
        return (id, client);
    }

    /// <summary>The programme office verifies the registration, as a regulator does.</summary>
    public async Task Verify(string party, string id)
    {
        using var regulator = web.Client(Names.Roles.Regulator);
        var response = await regulator.PostAsync($"/api/v1/companies/{party}/{id}/verify", null);
        Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
    }

    public async Task<PoolView> Pool(HttpClient provider, string providerId, string model = "H800-80G", int gpus = 8, long ask = 1_500, string siteId = "site-1")
    {
        var response = await provider.PostJson($"/api/v1/providers/{providerId}/pools", new { siteId, gpuModel = model, gpuCount = gpus, askFenPerGpuHour = ask },
            Scenario.Unique("pool-key"));
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        return await response.Read<PoolView>();
    }

    /// <param name="cashFen">The prepaid cash the operator records for the company (rule 8): <see cref="Scenario.CashFen"/> unless given; none when 0.</param>
    public async Task<(string TenantId, HttpClient Client)> Tenant(string province = "Beijing", long? cashFen = null)
    {
        var id = Scenario.Unique("tenant");
        var client = web.Sme(id);
        var response = await client.PostAsJsonAsync("/api/v1/tenants", new { name = $"Tenant {id}", kind = "Sme", province, creditCode = Scenario.NewCreditCode(province) });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await Verify("tenants", id);
        if ((cashFen ?? Scenario.CashFen) is > 0 and var cash)
        {
            await TopUp(id, cash);
        }
        return (id, client);
    }

    /// <summary>The operator records money received for the company, as from a bank transfer.</summary>
    public async Task TopUp(string tenantId, long amountFen)
    {
        using var admin = web.Admin();
        var response = await admin.PostJson($"/api/v1/tenants/{tenantId}/cash/top-ups", new { amountFen, paymentReference = Scenario.Unique("bank") });
        Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
    }
}
