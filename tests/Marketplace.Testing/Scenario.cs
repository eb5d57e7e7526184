using Marketplace.Grains;
using Microsoft.Extensions.Time.Testing;

namespace Marketplace.Testing;

/// <summary>Builds the actors of a test through the grains: programs, tenants, providers, pools, vouchers, bids.</summary>
public sealed class Scenario(IGrainFactory grains, TimeProvider clock)
{
    private const string CodeAlphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY";

    public Scenario(MarketCluster cluster) : this(cluster.Grains, cluster.Clock)
    {
    }

    public IGrainFactory Grains { get; } = grains;

    public DateTimeOffset Now => clock.GetUtcNow();

    /// <summary>A programme officer's verification, as the regulator's verify call makes it.</summary>
    public static readonly CompanyDecision Verify = new(true, "scenario-regulator", null, null);

    public static string Unique(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 13)];

    /// <summary>A random, valid unified social credit code of a company registered in <paramref name="province"/>.</summary>
    public static string NewCreditCode(string province = "Beijing")
    {
        var chars = new char[17];
        chars[0] = '9';
        chars[1] = '1';
        chars[2] = Provinces.Codes[province][0];
        chars[3] = Provinces.Codes[province][1];
        for (var i = 4; i < 8; i++)
        {
            chars[i] = (char)('0' + Random.Shared.Next(10));
        }
        for (var i = 8; i < 17; i++)
        {
            chars[i] = CodeAlphabet[Random.Shared.Next(CodeAlphabet.Length)];
        }
        return CreditCode.Complete(new string(chars));
    }

    /// <summary>The Beijing preset, open since yesterday, with the given changes.</summary>
    public ProgramDefinition Definition(Func<ProgramDefinition, ProgramDefinition>? change = null)
    {
        var definition = ProgramPresets.Get(ProgramPresets.Beijing, Now.AddDays(-1));
        return change is null ? definition : change(definition);
    }

    public async Task<string> Program(Func<ProgramDefinition, ProgramDefinition>? change = null, string? id = null)
    {
        id ??= Unique("prog");
        await Grains.GetGrain<IVoucherProgramGrain>(id).Create(Definition(change));
        return id;
    }

    public Task Approve(string programId, string providerId, DateTimeOffset? from = null, string? batch = null) =>
        Notice(programId, providerId, approved: true, from ?? Now.AddDays(-30), batch);

    /// <summary>A notice that approves or removes the provider's company (by the credit code it registered).</summary>
    public async Task Notice(string programId, string providerId, bool approved, DateTimeOffset from, string? batch = null)
    {
        var provider = await Grains.GetGrain<IProviderGrain>(providerId).Get() ?? throw new InvalidOperationException($"provider {providerId} is not registered");
        await Grains.GetGrain<IVoucherProgramGrain>(programId)
            .PublishProviderNotice(new ProviderNotice(batch ?? Unique("batch"), provider.Registration.CreditCode, approved, from, providerId));
    }

    /// <summary>
    /// What the operator pays in for every company a test registers (rule 8: nothing fills without prepaid cash): the
    /// largest single top-up the market takes.
    /// </summary>
    public static readonly long CashFen = new Marketplace.Domain.MarketLimits().MaxTopUpFen;

    /// <param name="cashFen">The company's prepaid cash, paid in through the top-up (<see cref="CashFen"/> unless given; none when 0).</param>
    public async Task<(string Id, string CreditCode)> Tenant(string province = "Beijing", TenantKind kind = TenantKind.Sme,
        IReadOnlyList<string>? relatedParties = null, string? creditCode = null, bool verified = true, long? cashFen = null)
    {
        var id = Unique("tenant");
        var code = kind == TenantKind.StartupTeam && creditCode is null ? null : creditCode ?? NewCreditCode(province);
        await Grains.GetGrain<ITenantGrain>(id).Register(new TenantRegistration($"Tenant {id}", kind, province, code, relatedParties ?? [],
            code is null ? "We are three researchers fine-tuning a model for legal documents." : null));
        if (verified)
        {
            await Grains.GetGrain<ITenantGrain>(id).Review(Verify);
        }
        if ((cashFen ?? CashFen) is > 0 and var cash)
        {
            await Grains.GetGrain<ICashGrain>(id).TopUp(cash, Unique("bank"));
        }
        return (id, code ?? "");
    }

    public static Site Site(string province, string siteId = "site-1", double latitude = 36.0, double longitude = 103.8) =>
        new(siteId, $"{province} site", province, $"{province} city", latitude, longitude, 50);

    /// <summary>
    /// A provider with the sites given, each with <paramref name="installedPerModel"/> GPUs of every model installed (by
    /// default as many as a site may declare, so that only tests of site capacity meet it).
    /// </summary>
    public async Task<(string Id, string CreditCode)> Provider(IReadOnlyList<Site>? sites = null, string? creditCode = null,
        int installedPerModel = Marketplace.Domain.Rules.PoolRules.MaxInstalledGpusPerModel, bool verified = true)
    {
        var id = Unique("prov");
        var code = creditCode ?? NewCreditCode("Gansu");
        sites ??= [Site("Gansu")];
        await Grains.GetGrain<IProviderGrain>(id).Register(new ProviderRegistration($"Provider {id}", code, sites, Installed(sites, installedPerModel)));
        if (verified)
        {
            await Grains.GetGrain<IProviderGrain>(id).Review(Verify);
        }
        return (id, code);
    }

    /// <summary>The installed GPUs of a site in an API request: <paramref name="perModel"/> of every model.</summary>
    public static Dictionary<string, int> InstalledGpus(int perModel = Marketplace.Domain.Rules.PoolRules.MaxInstalledGpusPerModel) =>
        GpuModels.Known.ToDictionary(m => m, _ => perModel);

    public static IReadOnlyList<InstalledGpus> Installed(IEnumerable<Site> sites, int perModel) =>
        sites.SelectMany(s => GpuModels.Known.Select(m => new InstalledGpus(s.SiteId, m, perModel))).ToList();

    public async Task<PoolView> Pool(string providerId, string model = "H800-80G", int gpus = 8, long ask = 1_500, string siteId = "site-1") =>
        await Grains.GetGrain<IProviderGrain>(providerId).ListPool(new PoolListing(Unique("pool"), siteId, model, gpus, ask));

    /// <summary>A provider with one site in <paramref name="province"/> and one pool there.</summary>
    public async Task<PoolView> ProviderWithPool(string province = "Gansu", string model = "H800-80G", int gpus = 8, long ask = 1_500)
    {
        var (providerId, _) = await Provider([Site(province)]);
        return await Pool(providerId, model, gpus, ask);
    }

    public async Task<VoucherView> Claim(string programId, string tenantId, long? amountFen = null) =>
        await Grains.GetGrain<IVoucherProgramGrain>(programId).Claim(new ClaimRequest(tenantId, Unique("claim"), amountFen));

    public async Task<VoucherView> ActiveVoucher(string programId, string tenantId, long? amountFen = null)
    {
        var voucher = await Claim(programId, tenantId, amountFen);
        return await Grains.GetGrain<IVoucherGrain>(voucher.Id).RegisterActivity(tenantId, new RdActivity("Fine-tuning", "Domain adaptation of a 7B model", 500));
    }

    /// <summary>A bid starting between <paramref name="startInHours"/> and that plus <paramref name="windowHours"/> from now.</summary>
    public BidOrder Order(int gpus = 1, int hours = 2, long maxPrice = 2_000, TimeInForce tif = TimeInForce.Ioc, int startInHours = 1,
        int windowHours = 0, string model = "H800-80G", IReadOnlyList<string>? provinces = null, string? voucherId = null, TimeSpan? goodFor = null)
    {
        var earliest = Hours.ToTime(Hours.Floor(Now) + startInHours);
        return new BidOrder(model, gpus, hours, earliest, earliest.AddHours(windowHours), maxPrice, provinces, voucherId, tif,
            tif == TimeInForce.Gtc ? Now + (goodFor ?? TimeSpan.FromDays(2)) : null);
    }

    public async Task<BidView> Bid(string tenantId, BidOrder order)
    {
        var key = Unique("key");
        return await Grains.GetGrain<IMarketGrain>(order.GpuModel).PlaceBid(
            new BidSubmission(Ids.Bid(tenantId, key), tenantId, order, Ids.ContentHash(Marketplace.Data.StateJson.Serialize(order))));
    }

    public Task<ReservationView?> Reservation(string id) => Grains.GetGrain<IReservationGrain>(id).Get();

    public Task<VoucherView?> Voucher(string id) => Grains.GetGrain<IVoucherGrain>(id).Get();

    public Task<PoolView?> PoolView(string id) => Grains.GetGrain<IGpuPoolGrain>(id).Get();
}
