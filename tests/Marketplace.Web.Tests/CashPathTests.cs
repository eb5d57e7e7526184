using System.Net;
using System.Net.Http.Json;
using Marketplace.Testing;
using Xunit;

namespace Marketplace.Web.Tests;

/// <summary>
/// Rule 8 end to end: what a company's cash holds for a booking the voucher pays in full, what a provider's outage gives
/// back before and during a rental, and the cap on what one company may hold unsettled.
/// </summary>
[Collection(CashCollection.Name)]
public sealed class CashPathTests(CashCluster web)
{
    private const long Ask = 2_500;

    [Fact]
    public async Task Rule8_a_booking_the_voucher_pays_in_full_still_holds_the_most_cancellation_charge_in_cash_and_a_late_cancel_takes_it_from_cash()
    {
        var api = new Api(web);
        var admin = web.Admin();
        var programId = Scenario.Unique("full");
        var opens = web.Clock.GetUtcNow().AddDays(-1);
        Assert.Equal(HttpStatusCode.Created, (await admin.PostJson("/api/v1/programs", new
        {
            id = programId, name = "算力券 全额", issuer = "Beijing Municipal Science and Technology Commission", province = "Beijing",
            claimOpensAt = opens, claimClosesAt = opens.AddYears(1), budgetFen = 20_000_000, voucherCapFen = 5_000_000,
            coverageBasisPoints = 10_000, allowedTenantKinds = new[] { "Sme", "StartupTeam" }, registrationDeadlineDays = 15, validityDays = 90,
        })).StatusCode);
        var (providerId, provider) = await api.Provider("Hebei");
        await api.Pool(provider, providerId, "A800-80G", gpus: 8, ask: Ask);
        Assert.Equal(HttpStatusCode.OK, (await admin.PutAsJsonAsync($"/api/v1/programs/{programId}/providers/{providerId}",
            new { batchId = "2026-b1", effectiveFrom = opens })).StatusCode);
        var (tenantId, sme) = await api.Tenant(cashFen: 0);
        await api.TopUp(tenantId, 5_000);
        var voucher = await (await sme.PostJson($"/api/v1/programs/{programId}/vouchers", new { }, Scenario.Unique("claim"))).Read<VoucherView>();
        Assert.Equal(HttpStatusCode.OK, (await sme.PostAsJsonAsync($"/api/v1/vouchers/{voucher.Id}/activity",
            new { title = "Speech model", description = "Training a dialect speech model", plannedGpuHours = 100 })).StatusCode);

        var start = Hours.ToTime(Hours.FirstBookable(web.Clock.GetUtcNow()) + 1); // within the free hours: a cancel is charged
        var bid = await (await sme.PostJson("/api/v1/bids", new
        {
            gpuModel = "A800-80G", gpuCount = 2, durationHours = 4, earliestStart = start, latestStart = start, maxFenPerGpuHour = 3_000,
            voucherId = voucher.Id, timeInForce = "IOC",
        }, Scenario.Unique("bid"))).Read<BidView>();
        var reservation = await (await sme.GetAsync($"/api/v1/reservations/{Assert.Single(bid.Fills).ReservationId}")).Read<ReservationView>();
        // 2 GPUs × 4 h × 2,500 fen = 20,000 fen, all of it the voucher's; the cash holds 10 % of it all the same.
        Assert.Equal((20_000L, 0L), (reservation.VoucherFen, reservation.CashFen));
        var cash = await (await sme.GetAsync("/api/v1/tenants/me/cash")).Read<CashBalance>();
        Assert.Equal((3_000L, 2_000L, 20_000L), (cash.AvailableFen, cash.HeldFen, cash.UnsettledFen));

        var quote = await (await sme.GetAsync($"/api/v1/reservations/{reservation.Id}/cancellation")).Read<CancellationQuote>();
        Assert.Equal((true, 2_000L, 0L), (quote.Cancellable, quote.ChargeFen, quote.CashRefundFen));
        Assert.Equal(HttpStatusCode.OK, (await sme.PostAsync($"/api/v1/reservations/{reservation.Id}/cancel", null)).StatusCode);

        // The charge went to the provider from the company's cash; the voucher got its whole hold back.
        cash = await (await sme.GetAsync("/api/v1/tenants/me/cash")).Read<CashBalance>();
        Assert.Equal((3_000L, 0L, 0L), (cash.AvailableFen, cash.HeldFen, cash.UnsettledFen));
        var after = await (await sme.GetAsync($"/api/v1/vouchers/{voucher.Id}")).Read<VoucherView>();
        Assert.Equal((0L, 0L), (after.HeldFen, after.CapturedFen));
        Assert.Equal(2_000L, await BalanceAsync(Marketplace.Data.Accounts.ProviderReceivable(providerId)));
        await LedgerAssert.Clean(web.Database, web.Clock.GetUtcNow());
    }

    [Fact]
    public async Task Rule8_an_outage_before_the_start_releases_the_whole_cash_hold_and_the_provider_pays_back_its_share()
    {
        var (providerId, provider, poolId, sme, first, reservationId) = await RentalAsync("KunlunR200-32G", startIn: 2);

        await OutageAsync(provider, providerId, poolId, first + 1, first + 7);

        var reservation = await (await sme.GetAsync($"/api/v1/reservations/{reservationId}")).Read<ReservationView>();
        Assert.Equal(ReservationState.Interrupted, reservation.State);
        // The whole 20,000 fen hold comes back, with 10 % of the 20,000 fen not delivered paid by the provider.
        var cash = await (await sme.GetAsync("/api/v1/tenants/me/cash")).Read<CashBalance>();
        Assert.Equal((32_000L, 0L, 0L), (cash.AvailableFen, cash.HeldFen, cash.UnsettledFen));
        Assert.Equal(-2_000L, await BalanceAsync(Marketplace.Data.Accounts.ProviderReceivable(providerId)));
        await LedgerAssert.Clean(web.Database, web.Clock.GetUtcNow());
    }

    [Fact]
    public async Task Rule8_an_outage_during_a_rental_charges_only_the_hours_delivered_and_the_provider_pays_back_its_share_of_the_rest()
    {
        var (providerId, provider, poolId, sme, first, reservationId) = await RentalAsync("MLU370X8-48G", startIn: 1);

        // The pool fails after two of the four hours; once the rental's hours are over it is settled.
        await OutageAsync(provider, providerId, poolId, first + 3, first + 9);
        web.Advance(Hours.ToTime(first + 5) - web.Clock.GetUtcNow() + TimeSpan.FromMinutes(1));
        await web.Grains.GetGrain<Marketplace.Grains.ISweeperGrain>(0).Tick();
        await web.Grains.GetGrain<Marketplace.Grains.ISweeperGrain>(0).Tick();

        var reservation = await (await sme.GetAsync($"/api/v1/reservations/{reservationId}")).Read<ReservationView>();
        Assert.Equal(ReservationState.Interrupted, reservation.State);
        // Delivered: 2 GPUs × 2 h × 2,500 = 10,000 fen paid; not delivered: 10,000 fen, of which the provider pays back 1,000.
        var cash = await (await sme.GetAsync("/api/v1/tenants/me/cash")).Read<CashBalance>();
        Assert.Equal((21_000L, 0L, 0L), (cash.AvailableFen, cash.HeldFen, cash.UnsettledFen));
        Assert.Equal(9_000L, await BalanceAsync(Marketplace.Data.Accounts.ProviderReceivable(providerId)));
        await LedgerAssert.Clean(web.Database, web.Clock.GetUtcNow());
    }

    [Fact]
    public async Task A_company_holds_at_most_the_market_cap_unsettled_and_a_cancellation_makes_room_again()
    {
        var api = new Api(web);
        var cap = new Marketplace.Domain.MarketLimits().MaxUnsettledFenPerTenant;
        var (providerId, provider) = await api.Provider("Hebei");
        // One GPU-hour costs a tenth of the cap and one fen more: nine fit under the cap, a tenth does not.
        var ask = cap / 10 + 1;
        await api.Pool(provider, providerId, "H20-96G", gpus: 16, ask: ask);
        var (tenantId, sme) = await api.Tenant(cashFen: 0);
        await api.TopUp(tenantId, 2 * cap); // more than enough cash: only the cap refuses
        var start = Hours.ToTime(Hours.FirstBookable(web.Clock.GetUtcNow()) + 48); // outside the charged hours: a cancel is free
        object Order(int gpus) => new
        {
            gpuModel = "H20-96G", gpuCount = gpus, durationHours = 1, earliestStart = start, latestStart = start, maxFenPerGpuHour = ask, timeInForce = "IOC",
        };

        var held = await (await sme.PostJson("/api/v1/bids", Order(9), Scenario.Unique("bid"))).Read<BidView>();
        Assert.Equal(BidState.Filled, held.State);
        var refused = await (await sme.PostJson("/api/v1/bids", Order(1), Scenario.Unique("bid"))).Read<BidView>();
        Assert.Equal((BidState.Rejected, "unsettled-cap-reached", 0), (refused.State, refused.ReasonCode, refused.Fills.Count));
        var cash = await (await sme.GetAsync("/api/v1/tenants/me/cash")).Read<CashBalance>();
        Assert.Equal((9 * ask, cap), (cash.UnsettledFen, cash.MaxUnsettledFen));
        Assert.Equal((2 * cap - 9 * ask, 9 * ask), (cash.AvailableFen, cash.HeldFen));

        Assert.Equal(HttpStatusCode.OK, (await sme.PostAsync($"/api/v1/reservations/{Assert.Single(held.Fills).ReservationId}/cancel", null)).StatusCode);
        var again = await (await sme.PostJson("/api/v1/bids", Order(1), Scenario.Unique("bid"))).Read<BidView>();
        Assert.Equal(BidState.Filled, again.State);
        cash = await (await sme.GetAsync("/api/v1/tenants/me/cash")).Read<CashBalance>();
        Assert.Equal((ask, ask), (cash.UnsettledFen, cash.HeldFen));
        await LedgerAssert.Clean(web.Database, web.Clock.GetUtcNow());
    }

    /// <summary>
    /// A provider with a pool of <paramref name="model"/>, and a company with 30,000 fen paid in that rents 2 of its GPUs for 4
    /// hours from <paramref name="startIn"/> hours after the first bookable hour (20,000 fen, all of it held from its cash).
    /// </summary>
    private async Task<(string ProviderId, HttpClient Provider, string PoolId, HttpClient Sme, long First, string ReservationId)> RentalAsync(
        string model, int startIn)
    {
        var api = new Api(web);
        var (providerId, provider) = await api.Provider("Hebei");
        var pool = await api.Pool(provider, providerId, model, gpus: 8, ask: Ask);
        var (tenantId, sme) = await api.Tenant(cashFen: 0);
        await api.TopUp(tenantId, 30_000);
        var first = Hours.FirstBookable(web.Clock.GetUtcNow());
        return (providerId, provider, pool.Id, sme, first, await FillAsync(sme, model, first + startIn));
    }

    /// <summary>A rental of 2 GPUs for 4 hours at the pool's ask of 2,500 fen: 20,000 fen, all of it held from the company's cash.</summary>
    private static async Task<string> FillAsync(HttpClient sme, string model, long startHour)
    {
        var start = Hours.ToTime(startHour);
        var bid = await (await sme.PostJson("/api/v1/bids", new
        {
            gpuModel = model, gpuCount = 2, durationHours = 4, earliestStart = start, latestStart = start, maxFenPerGpuHour = 3_000, timeInForce = "IOC",
        }, Scenario.Unique("bid"))).Read<BidView>();
        return Assert.Single(bid.Fills).ReservationId;
    }

    private static async Task OutageAsync(HttpClient provider, string providerId, string poolId, long fromHour, long toHour) =>
        Assert.Equal(HttpStatusCode.OK, (await provider.PostJson($"/api/v1/providers/{providerId}/pools/{poolId}/outages", new
        {
            outageId = Scenario.Unique("outage"), from = Hours.ToTime(fromHour), to = Hours.ToTime(toHour), reason = "cooling failure",
        }, Scenario.Unique("outage-key"))).StatusCode);

    private async Task<long> BalanceAsync(string account)
    {
        await using var command = web.Database.DataSource.CreateCommand("SELECT coalesce(sum(amount_fen), 0)::bigint FROM ledger_entries WHERE account = @a");
        command.Parameters.AddWithValue("a", account);
        return (long)(await command.ExecuteScalarAsync())!;
    }
}
