using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Marketplace.Testing;
using Xunit;

namespace Marketplace.Web.Tests;

/// <summary>An SME's reservations through the API: who provides them, and what cancelling one gives back.</summary>
[Collection(PlatformCollection.Name)]
public sealed class ReservationApiTests(PlatformCluster web)
{
    private const string Model = "L40S-48G";

    [Fact]
    public async Task A_reservation_names_its_provider_and_site_and_its_cancellation_quote_is_what_the_cancel_gives_back()
    {
        var api = new Api(web);
        var admin = web.Admin();
        var programId = Scenario.Unique("rq");
        var opens = web.Clock.GetUtcNow().AddDays(-1);
        Assert.Equal(HttpStatusCode.Created, (await admin.PostJson("/api/v1/programs", new
        {
            id = programId, name = "算力券 Cancellation Programme", issuer = "Beijing Municipal Science and Technology Commission",
            province = "Beijing", claimOpensAt = opens, claimClosesAt = opens.AddYears(1), budgetFen = 20_000_000, voucherCapFen = 5_000_000,
            coverageBasisPoints = 6_000, allowedTenantKinds = new[] { "Sme", "StartupTeam" }, registrationDeadlineDays = 15, validityDays = 90,
        })).StatusCode);
        var (providerId, provider) = await api.Provider("Hebei");
        await api.Pool(provider, providerId, Model, gpus: 8, ask: 2_000);
        Assert.Equal(HttpStatusCode.OK, (await admin.PutAsJsonAsync($"/api/v1/programs/{programId}/providers/{providerId}",
            new { batchId = "2026-b1", effectiveFrom = opens })).StatusCode);
        var (_, sme) = await api.Tenant();
        var voucher = await (await sme.PostJson($"/api/v1/programs/{programId}/vouchers", new { }, Scenario.Unique("claim"))).Read<VoucherView>();
        Assert.Equal(HttpStatusCode.OK, (await sme.PostAsJsonAsync($"/api/v1/vouchers/{voucher.Id}/activity",
            new { title = "Speech model", description = "Training a dialect speech model", plannedGpuHours = 100 })).StatusCode);

        var first = Hours.FirstBookable(web.Clock.GetUtcNow());
        var later = await FillAsync(sme, voucher.Id, first + 3);
        var sooner = await FillAsync(sme, voucher.Id, first + 1);

        // Each reservation in the tenant's list names its provider and site as they were registered.
        var listed = await (await sme.GetAsync("/api/v1/tenants/me/reservations")).Read<List<ReservationView>>();
        var reservation = Assert.Single(listed, r => r.Id == later);
        Assert.Equal($"Provider {providerId}", reservation.Plan.ProviderName);
        Assert.Equal("Hebei DC", reservation.Plan.SiteName);
        Assert.Equal("site-1", reservation.Plan.SiteId);

        // 2 GPUs × 4 h at 20 元: 160 元, of which the voucher holds 60 % and the tenant's prepaid cash the rest. It starts
        // within the market's free cancellation hours: cancelling costs 10 % of the cost (16 元), paid of the cash hold.
        Assert.Equal(16_000, reservation.Plan.CostFen);
        Assert.Equal(9_600, reservation.VoucherFen);
        Assert.Equal(6_400, reservation.CashFen);
        var quote = await Quote(sme, later);
        Assert.Equal(new CancellationQuote(later, true, null, null, 9_600, 4_800, quote.AsOf, 1_600), quote);
        var held = (await Voucher(sme, voucher.Id)).HeldFen;
        Assert.Equal(2 * 9_600, held);

        var cancelled = await (await sme.PostJson($"/api/v1/reservations/{later}/cancel", new { })).Read<ReservationView>();
        Assert.Equal(ReservationState.Cancelled, cancelled.State);
        Assert.Equal(held - quote.VoucherRefundFen, (await Voucher(sme, voucher.Id)).HeldFen);
        var after = await Quote(sme, later);
        Assert.Equal((false, "reservation-ended", 0L, 0L), (after.Cancellable, after.RefusalCode, after.VoucherRefundFen, after.CashRefundFen));

        // Once a reservation has started the quote refuses, as the cancel does, with the same code.
        web.Advance(Hours.ToTime(first + 1) - web.Clock.GetUtcNow() + TimeSpan.FromMinutes(1));
        var started = await Quote(sme, sooner);
        Assert.Equal((false, "reservation-started"), (started.Cancellable, started.RefusalCode));
        var refused = await sme.PostJson($"/api/v1/reservations/{sooner}/cancel", new { });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, refused.StatusCode);
        Assert.Equal("reservation-started", (await refused.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());

        // Another tenant cannot ask.
        var (_, other) = await api.Tenant();
        Assert.Equal(HttpStatusCode.NotFound, (await other.GetAsync($"/api/v1/reservations/{sooner}/cancellation")).StatusCode);
    }

    private static async Task<CancellationQuote> Quote(HttpClient sme, string reservationId)
    {
        var response = await sme.GetAsync($"/api/v1/reservations/{reservationId}/cancellation");
        Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        return await response.Read<CancellationQuote>();
    }

    private static async Task<VoucherView> Voucher(HttpClient sme, string voucherId) =>
        Assert.Single(await (await sme.GetAsync("/api/v1/tenants/me/vouchers")).Read<List<VoucherView>>(), v => v.Id == voucherId);

    private static async Task<string> FillAsync(HttpClient sme, string voucherId, long startHour)
    {
        var start = Hours.ToTime(startHour);
        var bid = await (await sme.PostJson("/api/v1/bids", new
        {
            gpuModel = Model, gpuCount = 2, durationHours = 4, earliestStart = start, latestStart = start, maxFenPerGpuHour = 3_000,
            voucherId, timeInForce = "IOC",
        }, Scenario.Unique("bid"))).Read<BidView>();
        return Assert.Single(bid.Fills).ReservationId;
    }
}
