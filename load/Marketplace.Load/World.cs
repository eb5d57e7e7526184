namespace Marketplace.Load;

/// <summary>A data center in one of the national computing hub regions.</summary>
public sealed record HubSite(string ProviderId, string Name, string Province, string City, double Latitude, double Longitude, int GreenPowerPercent, bool West);

/// <summary>A pool the tool lists: which provider, which model, how many GPUs, at what ask.</summary>
public sealed record PoolPlan(string PoolId, HubSite Site, string GpuModel, int GpuCount, long AskFenPerGpuHour);

/// <summary>A simulated tenant: an SME, or a startup team claiming on a credibility statement.</summary>
public sealed record TenantPlan(string Id, string Name, TenantKind Kind, string Province, string? CreditCode, string ProgramId, bool RegistersActivity);

/// <summary>
/// The simulated market, the same on every run so that setting it up again against a kept database finds what it made before:
/// one provider per national hub region with pools of three GPU models each, the source articles' voucher programs, and tenants
/// in the programs' provinces.
/// </summary>
public static class World
{
    public static readonly IReadOnlyList<HubSite> Sites =
    [
        new(DemoOrganisations.Provider, "Yizhuang AI Compute Center", "Beijing", "Beijing", 39.80, 116.50, 35, false),
        new("lp-shanghai", "Lingang Compute Hub", "Shanghai", "Shanghai", 30.90, 121.90, 30, false),
        new("lp-shenzhen", "Qianhai Intelligent Computing", "Guangdong", "Shenzhen", 22.53, 113.90, 40, false),
        new("lp-chengdu", "Chengdu Intelligent Computing Center", "Sichuan", "Chengdu", 30.66, 104.06, 80, true),
        new("lp-jinan", "Jinan Computing Center", "Shandong", "Jinan", 36.65, 117.12, 30, false),
        new("lp-zhengzhou", "Zhengzhou Computing Hub", "Henan", "Zhengzhou", 34.75, 113.62, 35, false),
        new("lp-ningbo", "Ningbo Yongjiang Compute", "Zhejiang", "Ningbo", 29.87, 121.55, 40, false),
        new("lp-helinger", "Helinger Data Center Cluster", "Inner Mongolia", "Hohhot", 40.38, 111.82, 70, true),
        new("lp-guian", "Gui'an Data Center Cluster", "Guizhou", "Gui'an", 26.40, 106.60, 75, true),
        new("lp-qingyang", "Qingyang Data Center Cluster", "Gansu", "Qingyang", 35.71, 107.64, 65, true),
        new("lp-zhongwei", "Zhongwei Data Center Cluster", "Ningxia", "Zhongwei", 37.51, 105.19, 70, true),
        new("lp-chongqing", "Chongqing Liangjiang Compute", "Chongqing", "Chongqing", 29.65, 106.63, 60, true),
    ];

    /// <summary>A typical ask per GPU-hour of each model at an eastern site, in fen.</summary>
    public static readonly IReadOnlyDictionary<string, long> BaseAsk = new Dictionary<string, long>(StringComparer.Ordinal)
    {
        ["H800-80G"] = 1_600,
        ["H20-96G"] = 900,
        ["A800-80G"] = 1_200,
        ["Ascend910B-64G"] = 800,
        ["L40S-48G"] = 450,
        ["RTX4090-24G"] = 220,
        ["Ascend910C-128G"] = 1_400,
        ["HygonZ100-32G"] = 300,
        ["KunlunR200-32G"] = 250,
        ["MLU370X8-48G"] = 350,
        ["MTTS4000-48G"] = 350,
    };

    /// <summary>The programs' provinces, for tenants to live in (a voucher is for firms of its program's region).</summary>
    public static readonly IReadOnlyList<(string Province, string ProgramId, bool StartupTeams)> ProgramRegions =
    [
        ("Beijing", ProgramPresets.Beijing, true),
        ("Shanghai", ProgramPresets.Shanghai, false),
        ("Sichuan", ProgramPresets.Chengdu, true),
        ("Shandong", ProgramPresets.Shandong, false),
        ("Guangdong", ProgramPresets.Shenzhen, false),
        ("Henan", ProgramPresets.Henan, false),
        ("Zhejiang", ProgramPresets.Ningbo, true),
    ];

    public const string ApprovalBatch = "load-approved-1";

    /// <summary>
    /// What the operator pays in for each simulated company (rule 8: nothing fills without prepaid cash): the largest single
    /// top-up the market takes, once per company (its payment reference names the company, so a second run pays nothing).
    /// </summary>
    public static readonly long TenantCashFen = new Marketplace.Domain.MarketLimits().MaxTopUpFen;

    public static IReadOnlyList<PoolPlan> Pools(int gpusPerPool)
    {
        var pools = new List<PoolPlan>();
        for (var s = 0; s < Sites.Count; s++)
        {
            var site = Sites[s];
            for (var m = 0; m < 3; m++)
            {
                var model = GpuModels.Known[(s + 2 * m) % GpuModels.Known.Count];
                // Western hub sites sell cheaper (cheap power, "Eastern Data, Western Computing"); a spread of asks across sites.
                var ask = BaseAsk[model] * (site.West ? 85 : 100) / 100 + 10 * s;
                pools.Add(new PoolPlan($"{site.ProviderId}-{model.ToLowerInvariant()}", site, model, gpusPerPool, ask));
            }
        }
        return pools;
    }

    public static IReadOnlyList<TenantPlan> Tenants(string prefix, int count)
    {
        var tenants = new List<TenantPlan>();
        for (var i = 0; i < count; i++)
        {
            var region = ProgramRegions[i % ProgramRegions.Count];
            // Every fifth tenant in a region whose program admits them is a startup team without a credit code.
            var team = region.StartupTeams && i % 5 == 4;
            var id = $"{prefix}-{i:D3}";
            tenants.Add(new TenantPlan(id, team ? $"{region.Province} research team {i}" : $"{region.Province} AI Co. {i}",
                team ? TenantKind.StartupTeam : TenantKind.Sme, region.Province, team ? null : CreditCodeOf($"91{Provinces.Codes[region.Province]}", prefix, i), region.ProgramId,
                // One tenant in seven never registers its R&D activity: its voucher stays claimed and cannot pay.
                RegistersActivity: i % 7 != 6));
        }
        return tenants;
    }

    /// <summary>The GPUs a site declares installed: exactly what the tool lists there, per model.</summary>
    public static Dictionary<string, int> InstalledGpus(IEnumerable<PoolPlan> pools) =>
        pools.GroupBy(p => p.GpuModel).ToDictionary(g => g.Key, g => g.Sum(p => p.GpuCount), StringComparer.Ordinal);

    public static string ProviderCreditCode(int index) => CreditCodeOf("9152", "provider", index);

    /// <summary>A valid, stable credit code per actor, different for every prefix and index; <paramref name="head"/> carries the province.</summary>
    private static string CreditCodeOf(string head, string prefix, int index)
    {
        var salt = (uint)StableHash(prefix) % 10_000;
        return CreditCode.Complete($"{head}{salt:D4}{index:D9}");
    }

    private static int StableHash(string text)
    {
        var hash = 17;
        foreach (var c in text)
        {
            hash = unchecked(hash * 31 + c);
        }
        return hash & int.MaxValue;
    }
}
