using System.Net;
using System.Net.Http.Json;
using Marketplace.Testing;
using Marketplace.Web.Queries;
using Xunit;

namespace Marketplace.Web.Tests;

public sealed class LedgerCluster : WebCluster;

[CollectionDefinition(Name)]
public sealed class LedgerCollection : ICollectionFixture<LedgerCluster>
{
    public const string Name = "ledger";
}

/// <summary>A regulator audits a programme through the API after a scripted scenario.</summary>
[Collection(LedgerCollection.Name)]
public sealed class LedgerApiTests(LedgerCluster web)
{
    [Fact]
    public async Task The_ledger_of_claim_register_hold_capture_and_a_lapse_reads_correctly_through_the_api()
    {
        var api = new Api(web);
        var admin = web.Admin();
        var programId = Scenario.Unique("bj");
        var opens = web.Clock.GetUtcNow().AddDays(-1);
        var created = await admin.PostJson("/api/v1/programs", new
        {
            id = programId, name = "Capital Technological Innovation Voucher", issuer = "Beijing Municipal Science and Technology Commission",
            province = "Beijing", claimOpensAt = opens, claimClosesAt = opens.AddYears(1), budgetFen = 20_000_000, voucherCapFen = 5_000_000,
            coverageBasisPoints = 8_000, allowedTenantKinds = new[] { "Sme", "StartupTeam" }, registrationDeadlineDays = 15, validityDays = 90,
        });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var (providerId, provider) = await api.Provider("Hebei");
        var pool = await api.Pool(provider, providerId, "A800-80G", gpus: 8, ask: 2_500);
        Assert.Equal(HttpStatusCode.OK, (await admin.PutAsJsonAsync($"/api/v1/programs/{programId}/providers/{providerId}",
            new { batchId = "2026-b1", effectiveFrom = opens })).StatusCode);

        // One tenant claims, registers its activity and rents 2 GPUs for 4 hours: 20,000 fen, 80% from the voucher.
        var (tenantId, sme) = await api.Tenant();
        var voucher = await (await sme.PostJson($"/api/v1/programs/{programId}/vouchers", new { }, "claim-1")).Read<VoucherView>();
        Assert.Equal(HttpStatusCode.OK, (await sme.PostAsJsonAsync($"/api/v1/vouchers/{voucher.Id}/activity",
            new { title = "Legal LLM", description = "Fine-tuning on court rulings", plannedGpuHours = 400 })).StatusCode);
        var start = Hours.ToTime(Hours.FirstBookable(web.Clock.GetUtcNow()) + 1);
        var bid = await (await sme.PostJson("/api/v1/bids", new
        {
            gpuModel = "A800-80G", gpuCount = 2, durationHours = 4, earliestStart = start, latestStart = start, maxFenPerGpuHour = 3_000,
            voucherId = voucher.Id, timeInForce = "IOC",
        }, "bid-1")).Read<BidView>();
        var fill = Assert.Single(bid.Fills);
        Assert.Equal((20_000L, 16_000L, 4_000L), (fill.CostFen, fill.VoucherFen, fill.CashFen));

        // Another tenant claims and never registers: the voucher lapses after 15 days.
        var (_, late) = await api.Tenant();
        var lapsing = await (await late.PostJson($"/api/v1/programs/{programId}/vouchers", new { amountFen = 1_000_000 }, "claim-2")).Read<VoucherView>();

        // The rental runs and settles; then the registration deadline passes.
        web.Advance(fill.EndsAt - web.Clock.GetUtcNow());
        await web.Grains.GetGrain<Marketplace.Grains.ISweeperGrain>(0).Tick();
        await web.Grains.GetGrain<Marketplace.Grains.ISweeperGrain>(0).Tick();
        // The deadline is the end of the 15th day after the claim in Beijing time: a second after it, the voucher lapses.
        web.Advance(lapsing.RegistrationDeadline - web.Clock.GetUtcNow() + TimeSpan.FromSeconds(1));
        await web.Grains.GetGrain<Marketplace.Grains.ISweeperGrain>(0).Tick();

        var regulator = web.Regulator();
        var ledger = (await regulator.GetFromJsonAsync<LedgerPage>($"/api/v1/programs/{programId}/ledger?pageSize=50", WebCluster.Json))!;
        var reservation = fill.ReservationId;
        Assert.Equal(
            [
                ("fund", $"fund:{programId}", (long?)20_000_000),
                ("claim", $"claim:{voucher.Id}", 5_000_000),
                ("hold", $"hold:{voucher.Id}:{reservation}", 16_000),
                ("claim", $"claim:{lapsing.Id}", 1_000_000),
                ("capture", $"capture:{voucher.Id}:{reservation}", 16_000),
                ("settle", $"settle:{reservation}", 20_000),
                ("return", $"return:{lapsing.Id}", 1_000_000),
            ],
            ledger.Transactions.Select(t => (t.Kind, t.Id, (long?)t.Entries.Where(e => e.AmountFen > 0).Sum(e => e.AmountFen))).ToList());
        Assert.All(ledger.Transactions, t => Assert.Equal(0, t.Entries.Sum(e => e.AmountFen)));
        Assert.Equal(7, ledger.TotalTransactions);

        // Balances: 14 million unissued, 5 million minus 16,000 left on the live voucher, 16,000 spent, owed to the provider.
        Assert.Equal(20_000_000 - 5_000_000 - 1_000_000 + 1_000_000, ledger.Balances[$"program:{programId}:budget"]);
        Assert.Equal(-20_000_000, ledger.Balances[$"program:{programId}:funding"]);
        Assert.Equal(-16_000, ledger.Balances[$"program:{programId}:payable"]);
        Assert.Equal(5_000_000 - 16_000, ledger.Balances["vouchers:available"]);
        Assert.Equal(0, ledger.Balances["vouchers:held"]);
        Assert.Equal(16_000, ledger.Balances["vouchers:spent"]);

        var takeUp = (await regulator.GetFromJsonAsync<TakeUp>($"/api/v1/programs/{programId}/takeup", WebCluster.Json))!;
        Assert.Equal(1, takeUp.VouchersByState["Active"]);
        Assert.Equal(1, takeUp.VouchersByState["Lapsed"]);
        Assert.Equal((6_000_000L, 0L, 16_000L, 1_000_000L, 15_000_000L),
            (takeUp.IssuedFen, takeUp.HeldFen, takeUp.SpentFen, takeUp.ReturnedFen, takeUp.RemainingBudgetFen));
        Assert.Equal(1, takeUp.DaysToRegistration[0]);
        Assert.Equal(HttpStatusCode.Forbidden, (await sme.GetAsync($"/api/v1/programs/{programId}/ledger")).StatusCode);
        await LedgerAssert.Clean(web.Database, web.Clock.GetUtcNow());
    }
}
