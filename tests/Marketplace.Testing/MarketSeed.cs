using System.Net.Http.Json;

namespace Marketplace.Testing;

/// <summary>Sets up a market through the public API: providers with pools in several provinces, and tenants.</summary>
public static class MarketSeed
{
    public static readonly string[] WesternAndEastern = ["Gansu", "Ningxia", "Guizhou", "Inner Mongolia", "Beijing", "Shanghai"];

    /// <summary>One provider per province, each with one pool of <paramref name="gpus"/> GPUs of the model.</summary>
    public static async Task<IReadOnlyList<string>> ProvidersAsync(IApiClients system, string model = "H800-80G", int gpus = 256,
        IReadOnlyList<string>? provinces = null)
    {
        var ids = new List<string>();
        foreach (var (province, i) in (provinces ?? WesternAndEastern).Select((p, i) => (p, i)))
        {
            var id = Scenario.Unique("prov");
            using var client = await system.ClientAsync(Names.Roles.Provider, providerId: id);
            (await RegisterProviderAsync(client, province)).EnsureSuccessStatusCode();
            await VerifyAsync(system, "providers", id);
            (await client.PostAsJsonAsync($"/api/v1/providers/{id}/pools", new { siteId = "dc-1", gpuModel = model, gpuCount = gpus, askFenPerGpuHour = 1_000 + 10 * i }))
                .EnsureSuccessStatusCode();
            ids.Add(id);
        }
        return ids;
    }

    /// <summary>Registers the client's provider with one data-center site, <paramref name="siteId"/>, in the province.</summary>
    public static Task<HttpResponseMessage> RegisterProviderAsync(HttpClient provider, string province, string siteId = "dc-1") =>
        provider.PostAsJsonAsync("/api/v1/providers", new
        {
            name = $"{province} Compute",
            creditCode = Scenario.NewCreditCode(),
            sites = new[] { new { siteId, name = $"{province} DC", province, city = "City", latitude = 36.0, longitude = 104.0, greenPowerPercent = 60, installedGpus = Scenario.InstalledGpus() } },
        });

    /// <summary>The programme office verifies a registration (party: "tenants" or "providers"), as a regulator does.</summary>
    public static async Task VerifyAsync(IApiClients system, string party, string id)
    {
        using var regulator = await system.ClientAsync(Names.Roles.Regulator);
        (await regulator.PostAsync($"/api/v1/companies/{party}/{id}/verify", null)).EnsureSuccessStatusCode();
    }

    /// <summary>The operator pays in the company's prepaid cash (rule 8: nothing fills without it), as from a bank transfer.</summary>
    public static async Task TopUpAsync(IApiClients system, string tenantId, long? amountFen = null)
    {
        using var admin = await system.ClientAsync(Names.Roles.Admin);
        (await admin.PostAsJsonAsync($"/api/v1/tenants/{tenantId}/cash/top-ups",
            new { amountFen = amountFen ?? Scenario.CashFen, paymentReference = Scenario.Unique("bank") })).EnsureSuccessStatusCode();
    }

    /// <summary>Registered SME tenants with prepaid cash, each with a client acting for it.</summary>
    public static async Task<IReadOnlyList<(string Id, HttpClient Client)>> TenantsAsync(IApiClients system, int count)
    {
        var tenants = new List<(string, HttpClient)>();
        for (var i = 0; i < count; i++)
        {
            var id = Scenario.Unique("tenant");
            var client = await system.ClientAsync(Names.Roles.Sme, tenantId: id);
            (await client.PostAsJsonAsync("/api/v1/tenants", new { name = $"Tenant {i}", kind = "Sme", province = "Beijing", creditCode = Scenario.NewCreditCode() }))
                .EnsureSuccessStatusCode();
            await VerifyAsync(system, "tenants", id);
            await TopUpAsync(system, id);
            tenants.Add((id, client));
        }
        return tenants;
    }
}
