using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Marketplace.Grains;
using Marketplace.Testing;

namespace Marketplace.Security.Tests;

/// <summary>
/// Who acts in the security tests and what they own. "Mine" is always tenant A or provider P; "theirs" is tenant B or
/// provider Q. A's reservation runs on P's pool (H800) and B's on Q's (A800), so a provider's "own reservation" is also
/// tenant A's. Everything is built through the grains, not through the API under test.
/// </summary>
public sealed class World
{
    public const string SiteWithPools = "site-1";
    public const string EmptySite = "site-2";
    public const string ModelOfP = "H800-80G";
    public const string ModelOfQ = "A800-80G";
    public static readonly RdActivity Activity = new("Fine-tuning", "Domain adaptation of a 7B model", 500);

    private World(SecurityCluster web, Scenario scenario)
    {
        Web = web;
        Scenario = scenario;
    }

    public SecurityCluster Web { get; }
    public Scenario Scenario { get; }

    public string ProgramId { get; private set; } = "";
    public string OtherProgramId { get; private set; } = "";
    public string TenantA { get; private set; } = "";
    public string TenantB { get; private set; } = "";
    public string ProviderP { get; private set; } = "";
    public string ProviderQ { get; private set; } = "";
    public string CreditCodeP { get; private set; } = "";
    public string CreditCodeQ { get; private set; } = "";
    public PoolView PoolP { get; private set; } = null!;
    public PoolView PoolQ { get; private set; } = null!;
    public VoucherView VoucherA { get; private set; } = null!;
    public VoucherView VoucherB { get; private set; } = null!;
    public BidView FilledBidA { get; private set; } = null!;
    public BidView FilledBidB { get; private set; } = null!;
    public BidView RestingBidA { get; private set; } = null!;
    public BidView RestingBidB { get; private set; } = null!;
    public string ReservationA => FilledBidA.Fills[0].ReservationId;
    public string ReservationB => FilledBidB.Fills[0].ReservationId;

    public static async Task<World> CreateAsync(SecurityCluster web)
    {
        var world = new World(web, new Scenario(web));
        await world.SeedAsync();
        return world;
    }

    private async Task SeedAsync()
    {
        ProgramId = await Scenario.Program();
        OtherProgramId = await Scenario.Program();
        (TenantA, _) = await Scenario.Tenant("Beijing");
        (TenantB, _) = await Scenario.Tenant("Beijing");
        (ProviderP, CreditCodeP) = await Scenario.Provider([Scenario.Site("Gansu", SiteWithPools), Scenario.Site("Gansu", EmptySite)]);
        (ProviderQ, CreditCodeQ) = await Scenario.Provider([Scenario.Site("Ningxia", SiteWithPools)]);
        PoolP = await Scenario.Pool(ProviderP, ModelOfP, gpus: 8, ask: 1_500);
        PoolQ = await Scenario.Pool(ProviderQ, ModelOfQ, gpus: 8, ask: 1_500);
        await Scenario.Approve(ProgramId, ProviderP);
        await Scenario.Approve(ProgramId, ProviderQ);
        VoucherA = await Scenario.Grains.GetGrain<IVoucherGrain>((await Scenario.Claim(ProgramId, TenantA)).Id).RegisterActivity(TenantA, Activity);
        VoucherB = await Scenario.Grains.GetGrain<IVoucherGrain>((await Scenario.Claim(ProgramId, TenantB)).Id).RegisterActivity(TenantB, Activity);
        FilledBidA = await Filled(TenantA, ModelOfP, VoucherA.Id);
        FilledBidB = await Filled(TenantB, ModelOfQ, VoucherB.Id);
        RestingBidA = await NewRestingBid(TenantA);
        RestingBidB = await NewRestingBid(TenantB);
        await SignInAsync();
    }

    private readonly Dictionary<Role, string> _tokens = [];

    /// <summary>
    /// Each role acts with a real token of the marketplace's OpenID Connect provider: an API client registered for the
    /// organisation (by an admin, with a development token: set-up only), signed in with client credentials.
    /// </summary>
    private async Task SignInAsync()
    {
        using var admin = Web.Admin();
        using var anonymous = Web.Client();
        foreach (var (role, name, tenantId, providerId) in new (Role, string, string?, string?)[]
                 {
                     (Role.Sme, Names.Roles.Sme, TenantA, null), (Role.Provider, Names.Roles.Provider, null, ProviderP),
                     (Role.Regulator, Names.Roles.Regulator, null, null), (Role.Admin, Names.Roles.Admin, null, null),
                 })
        {
            var made = await admin.PostAsJsonAsync("/api/v1/clients", new { displayName = $"security tests: {name}", role = name, tenantId, providerId });
            var client = await made.EnsureSuccessStatusCode().Content.ReadFromJsonAsync<JsonElement>();
            var token = await anonymous.PostAsync("/connect/token", new FormUrlEncodedContent(new Dictionary<string, string>
            {
                ["grant_type"] = "client_credentials",
                ["client_id"] = client.GetProperty("clientId").GetString()!,
                ["client_secret"] = client.GetProperty("clientSecret").GetString()!,
                ["scope"] = Names.Auth.ApiScope,
            }));
            _tokens[role] = (await token.EnsureSuccessStatusCode().Content.ReadFromJsonAsync<JsonElement>()).GetProperty("access_token").GetString()!;
        }
    }

    private async Task<BidView> Filled(string tenant, string model, string? voucherId)
    {
        var bid = await Scenario.Bid(tenant, Scenario.Order(model: model, windowHours: 48, voucherId: voucherId));
        if (bid.State != BidState.Filled)
        {
            throw new InvalidOperationException($"the seed bid did not fill: {bid.State} {bid.ReasonCode} {bid.Reason}");
        }
        return bid;
    }

    /// <summary>A GTC bid at one fen per GPU-hour: below every ask, so it rests.</summary>
    public async Task<BidView> NewRestingBid(string tenant)
    {
        var bid = await Scenario.Bid(tenant, Scenario.Order(model: ModelOfP, maxPrice: 1, tif: TimeInForce.Gtc, windowHours: 48));
        return bid.State == BidState.Resting ? bid : throw new InvalidOperationException($"the bid did not rest: {bid.State} {bid.Reason}");
    }

    /// <summary>A fresh confirmed reservation of tenant A on one of P's pools.</summary>
    public async Task<string> NewReservationOfA() => (await Filled(TenantA, ModelOfP, null)).Fills[0].ReservationId;

    /// <summary>A fresh pool of P on its first site, for changes that should not disturb the seeded pool.</summary>
    public Task<PoolView> NewPoolOfP() => Scenario.Pool(ProviderP, ModelOfP, gpus: 4, ask: 3_000);

    /// <summary>The role's token (tenant A for SMEs, provider P for providers); none when anonymous.</summary>
    public string Token(Role role) => _tokens.GetValueOrDefault(role, "");

    /// <summary>A client acting as the role (tenant A for SMEs, provider P for providers), or anonymous.</summary>
    public HttpClient Client(Role role)
    {
        var client = Web.Client();
        if (role != Role.Anonymous)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token(role));
        }
        return client;
    }

    public DateTimeOffset Now => Scenario.Now;

    /// <summary>The first whole hour that can be booked, plus <paramref name="hours"/>.</summary>
    public DateTimeOffset Hour(int hours) => Hours.ToTime(Hours.FirstBookable(Now) + hours);
}

public enum Role
{
    Anonymous,
    Sme,
    Provider,
    Regulator,
    Admin,
}

/// <summary>Whose resource a request names: the caller's own (tenant A, provider P) or someone else's (tenant B, provider Q).</summary>
public enum Target
{
    Mine,
    Theirs,
}
