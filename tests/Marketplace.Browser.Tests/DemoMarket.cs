using System.Net.Http.Json;
using System.Text.Json;
using Marketplace.Testing;

namespace Marketplace.Browser.Tests;

/// <summary>A provider's data center as the seed lists it: a real site, one pool.</summary>
public sealed record DemoSite(string Province, string City, double Latitude, double Longitude, string GpuModel, int Gpus, long AskFen);

/// <summary>
/// A small but lively market set up through the public API, as the dashboards are meant to show it: two voucher programs,
/// data centers across China, tenants with vouchers (some registered, some not), fills, and bids resting where no
/// capacity is listed.
/// </summary>
public sealed class DemoMarket(ProcessCluster system)
{
    public static readonly DemoSite[] Sites =
    [
        new("Gansu", "Qingyang", 35.71, 107.64, "H800-80G", 128, 1_500),
        new("Ningxia", "Zhongwei", 37.51, 105.19, "H800-80G", 256, 1_400),
        new("Guizhou", "Gui'an", 26.40, 106.60, "H20-96G", 128, 900),
        new("Inner Mongolia", "Ulanqab", 41.00, 113.13, "A800-80G", 192, 1_300),
        new("Beijing", "Beijing", 39.90, 116.40, "H800-80G", 64, 2_400),
        new("Shanghai", "Shanghai", 31.23, 121.47, "H800-80G", 96, 2_600),
    ];

    /// <summary>Provinces where tenants want capacity that nobody lists.</summary>
    public static readonly string[] ThinProvinces = ["Guangdong", "Zhejiang"];

    public const string BeijingProgram = "bj-2026-b1";
    public const string ShanghaiProgram = "sh-2026-q1";

    public List<string> ProviderIds { get; } = [];
    public List<string> SiteIds { get; } = [];

    public async Task SeedAsync()
    {
        using var admin = await system.ClientAsync(Names.Roles.Admin);
        await Ok(admin.PostAsJsonAsync("/api/v1/programs", Program(BeijingProgram, "Beijing Capital Compute Vouchers", "Beijing", 8_000)));
        await Ok(admin.PostAsJsonAsync("/api/v1/programs", Program(ShanghaiProgram, "Shanghai AI Compute Vouchers", "Shanghai", 8_000)));
        foreach (var site in Sites)
        {
            var (providerId, siteId) = await ProviderAsync(site);
            foreach (var program in new[] { BeijingProgram, ShanghaiProgram })
            {
                await Ok(admin.PutAsJsonAsync($"/api/v1/programs/{program}/providers/{providerId}",
                    new { batchId = "batch-1", effectiveFrom = DateTimeOffset.UtcNow.AddDays(-1) }));
            }
        }
        var startHour = 1;
        foreach (var (province, program, index) in new[] { ("Beijing", BeijingProgram, 0), ("Beijing", BeijingProgram, 1), ("Beijing", BeijingProgram, 2),
            ("Shanghai", ShanghaiProgram, 3), ("Shanghai", ShanghaiProgram, 4) })
        {
            var (_, client, voucherId) = await TenantAsync(province, program, registerActivity: index != 2);
            using (client)
            {
                // Enough to colour the map: about half of each of the cheapest pools' next 24 hours. The voucher pays for the H20 hours.
                foreach (var (model, gpus) in new[] { ("H800-80G", 16 + 16 * index), ("H20-96G", 8 + 8 * index), ("A800-80G", 16 + 16 * index) })
                {
                    await Ok(client.PostAsJsonAsync("/api/v1/bids", Bid(model, gpus, hours: 12, startInHours: startHour++,
                        voucherId: index != 2 && model == "H20-96G" ? voucherId : null)));
                }
                await Ok(client.PostAsJsonAsync("/api/v1/bids", Bid("H800-80G", gpus: 16, hours: 4, startInHours: 2, provinces: [ThinProvinces[index % 2]])));
            }
        }
    }

    public async Task<(string ProviderId, string SiteId)> ProviderAsync(DemoSite site, string? providerId = null)
    {
        providerId ??= Scenario.Unique("prov");
        var siteId = $"{site.City.ToLowerInvariant().Replace("'", "", StringComparison.Ordinal)}-1";
        using var client = await system.ClientAsync(Names.Roles.Provider, providerId: providerId);
        await Ok(client.PostAsJsonAsync("/api/v1/providers", new
        {
            name = $"{site.City} Intelligent Computing Center",
            creditCode = Scenario.NewCreditCode(),
            sites = new[] { new { siteId, name = $"{site.City} DC 1", province = site.Province, city = site.City, latitude = site.Latitude, longitude = site.Longitude, greenPowerPercent = 60, installedGpus = Scenario.InstalledGpus() } },
        }));
        await MarketSeed.VerifyAsync(system, "providers", providerId);
        await Ok(client.PostAsJsonAsync($"/api/v1/providers/{providerId}/pools",
            new { poolId = $"{providerId}-{site.GpuModel.ToLowerInvariant()}", siteId, gpuModel = site.GpuModel, gpuCount = site.Gpus, askFenPerGpuHour = site.AskFen }));
        ProviderIds.Add(providerId);
        SiteIds.Add(siteId);
        return (providerId, siteId);
    }

    /// <summary>A registered SME with prepaid cash and a voucher of the program (active once its R&amp;D activity is registered).</summary>
    public async Task<(string TenantId, HttpClient Client, string VoucherId)> TenantAsync(string province, string program, bool registerActivity = true)
    {
        var tenantId = Scenario.Unique("tenant");
        var client = await system.ClientAsync(Names.Roles.Sme, tenantId: tenantId);
        await Ok(client.PostAsJsonAsync("/api/v1/tenants", new { name = $"{province} AI Lab {tenantId[^4..]}", kind = "Sme", province, creditCode = Scenario.NewCreditCode(province) }));
        await MarketSeed.VerifyAsync(system, "tenants", tenantId);
        await MarketSeed.TopUpAsync(system, tenantId);
        var voucher = await Ok(client.PostAsJsonAsync($"/api/v1/programs/{program}/vouchers", new { amountFen = 3_000_000 }));
        var voucherId = voucher.GetProperty("id").GetString()!;
        if (registerActivity)
        {
            await Ok(client.PostAsJsonAsync($"/api/v1/vouchers/{voucherId}/activity",
                new { title = "Fine-tune a domain model", description = "Supervised fine-tuning on licensed data", plannedGpuHours = 2_000 }));
        }
        return (tenantId, client, voucherId);
    }

    /// <summary>A bid body; IOC by default, GTC until the end of its start window when it names provinces.</summary>
    public static object Bid(string model, int gpus, int hours, int startInHours, string? voucherId = null, string[]? provinces = null, long maxFen = 3_000)
    {
        var earliest = NextHour().AddHours(startInHours);
        var latest = earliest.AddHours(24);
        return new
        {
            gpuModel = model, gpuCount = gpus, durationHours = hours, earliestStart = earliest, latestStart = latest, maxFenPerGpuHour = maxFen,
            allowedProvinces = provinces, voucherId, timeInForce = provinces is null ? "Ioc" : "Gtc", goodUntil = provinces is null ? (DateTimeOffset?)null : latest,
            clientOrderId = Guid.NewGuid().ToString("N"),
        };
    }

    public static async Task<JsonElement> Ok(Task<HttpResponseMessage> request)
    {
        using var response = await request;
        var text = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri} answered {(int)response.StatusCode}: {text}");
        }
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    private static DateTimeOffset NextHour()
    {
        var now = DateTimeOffset.UtcNow;
        return new DateTimeOffset(now.Year, now.Month, now.Day, now.Hour, 0, 0, TimeSpan.Zero).AddHours(1);
    }

    private static object Program(string id, string name, string province, int coverageBasisPoints) => new
    {
        id, name, issuer = $"{province} Municipal Science and Technology Commission", province,
        claimOpensAt = DateTimeOffset.UtcNow.AddDays(-7), claimClosesAt = DateTimeOffset.UtcNow.AddDays(60),
        budgetFen = 2_000_000_000L, voucherCapFen = 5_000_000L, coverageBasisPoints,
        allowedTenantKinds = new[] { "Sme", "StartupTeam" }, registrationDeadlineDays = 15, validityDays = 90,
    };
}
