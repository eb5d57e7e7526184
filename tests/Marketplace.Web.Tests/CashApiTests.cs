using System.Net;
using Marketplace.Testing;
using Xunit;

namespace Marketplace.Web.Tests;

public sealed class CashCluster : WebCluster;

[CollectionDefinition(Name)]
public sealed class CashCollection : ICollectionFixture<CashCluster>
{
    public const string Name = "cash";
}

/// <summary>Rule 8: a company's prepaid cash, paid in by the operator, read and withdrawn by the company, held at every fill.</summary>
[Collection(CashCollection.Name)]
public sealed class CashApiTests(CashCluster web)
{
    [Fact]
    public async Task Rule8_a_top_up_is_credited_once_per_payment_reference_and_a_withdrawal_takes_only_what_is_available()
    {
        var api = new Api(web);
        var (tenantId, sme) = await api.Tenant(cashFen: 0);
        var admin = web.Admin();
        var reference = Scenario.Unique("bank");

        var first = await (await admin.PostJson($"/api/v1/tenants/{tenantId}/cash/top-ups", new { amountFen = 500_000, paymentReference = reference })).Read<CashPayment>();
        Assert.Equal((tenantId, 500_000L, reference, "cash-top-up"), (first.TenantId, first.AmountFen, first.Reference, first.Kind));
        var repeat = await (await admin.PostJson($"/api/v1/tenants/{tenantId}/cash/top-ups", new { amountFen = 500_000, paymentReference = reference })).Read<CashPayment>();
        Assert.Equal(first, repeat);
        await Api.Problem(await admin.PostJson($"/api/v1/tenants/{tenantId}/cash/top-ups", new { amountFen = 400_000, paymentReference = reference }),
            HttpStatusCode.Conflict, "payment-reference-used");
        await Api.Problem(await admin.PostJson($"/api/v1/tenants/no-such-tenant/cash/top-ups", new { amountFen = 1, paymentReference = Scenario.Unique("bank") }),
            HttpStatusCode.NotFound, "not-found");

        await Api.Problem(await sme.PostJson("/api/v1/tenants/me/cash/withdrawals", new { amountFen = 500_001 }, Scenario.Unique("w")),
            HttpStatusCode.UnprocessableEntity, "insufficient-cash");
        var key = Scenario.Unique("w");
        var withdrawal = await (await sme.PostJson("/api/v1/tenants/me/cash/withdrawals", new { amountFen = 120_000 }, key)).Read<CashPayment>();
        Assert.Equal((120_000L, key, "cash-withdrawal"), (withdrawal.AmountFen, withdrawal.Reference, withdrawal.Kind));
        Assert.Equal(withdrawal, await (await sme.PostJson("/api/v1/tenants/me/cash/withdrawals", new { amountFen = 120_000 }, key)).Read<CashPayment>());

        var mine = await (await sme.GetAsync("/api/v1/tenants/me/cash")).Read<CashBalance>();
        Assert.Equal((380_000L, 0L), (mine.AvailableFen, mine.HeldFen));
        Assert.Equal(new[] { ("cash-withdrawal", -120_000L), ("cash-top-up", 500_000L) }, mine.Movements.Select(m => (m.Kind, m.AvailableChangeFen)));
        var read = await (await web.Regulator().GetAsync($"/api/v1/tenants/{tenantId}/cash")).Read<CashBalance>();
        Assert.Equal(mine, read with { Movements = mine.Movements });
        Assert.Equal(mine.Movements, read.Movements);
        await LedgerAssert.Clean(web.Database, web.Clock.GetUtcNow());
    }

    [Fact]
    public async Task Rule8_a_top_up_outside_the_limits_is_refused_with_the_field()
    {
        var (tenantId, _) = await new Api(web).Tenant();
        var response = await web.Admin().PostJson($"/api/v1/tenants/{tenantId}/cash/top-ups", new { amountFen = 0, paymentReference = "" });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var body = await response.Content.ReadAsStringAsync();
        Assert.Contains("amountFen", body, StringComparison.Ordinal);
        Assert.Contains("paymentReference", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rule8_a_company_without_prepaid_cash_gets_no_fill()
    {
        var api = new Api(web);
        var (providerId, provider) = await api.Provider("Hebei");
        await api.Pool(provider, providerId, "L40S-48G", gpus: 8, ask: 2_500);
        var (tenantId, sme) = await api.Tenant(cashFen: 0);
        var start = Hours.ToTime(Hours.FirstBookable(web.Clock.GetUtcNow()) + 1);
        var order = new
        {
            gpuModel = "L40S-48G", gpuCount = 2, durationHours = 4, earliestStart = start, latestStart = start, maxFenPerGpuHour = 3_000, timeInForce = "IOC",
        };

        // The quote says what the fill would hold (2 GPUs × 4 h × 2,500 fen, all cash) and what the company has.
        var quote = await (await sme.PostJson("/api/v1/quotes", order)).Read<Quote>();
        Assert.Equal((true, 20_000L, 20_000L, 0L), (quote.Available, quote.CashFen, quote.CashHoldFen, quote.CashAvailableFen));
        var bid = await (await sme.PostJson("/api/v1/bids", order, Scenario.Unique("bid"))).Read<BidView>();
        Assert.Equal((BidState.Rejected, "insufficient-cash", 0), (bid.State, bid.ReasonCode, bid.Fills.Count));

        // Paid in, the same bid fills and holds its cash share, in the ledger as in the company's row.
        await api.TopUp(tenantId, 30_000);
        bid = await (await sme.PostJson("/api/v1/bids", order, Scenario.Unique("bid"))).Read<BidView>();
        Assert.Equal(BidState.Filled, bid.State);
        var cash = await (await sme.GetAsync("/api/v1/tenants/me/cash")).Read<CashBalance>();
        Assert.Equal((10_000L, 20_000L), (cash.AvailableFen, cash.HeldFen));
        Assert.Equal(("cash-hold", -20_000L, 20_000L, bid.Fills[0].ReservationId), (cash.Movements[0].Kind, cash.Movements[0].AvailableChangeFen,
            cash.Movements[0].HeldChangeFen, cash.Movements[0].ReservationId));
        await LedgerAssert.Clean(web.Database, web.Clock.GetUtcNow());
    }

    [Fact]
    public async Task Rule8_a_cancellation_within_the_free_hours_releases_the_cash_hold_less_the_charge_to_the_provider()
    {
        var api = new Api(web);
        var (providerId, provider) = await api.Provider("Hebei");
        await api.Pool(provider, providerId, "RTX4090-24G", gpus: 8, ask: 2_500);
        var (tenantId, sme) = await api.Tenant(cashFen: 0);
        await api.TopUp(tenantId, 30_000);
        var start = Hours.ToTime(Hours.FirstBookable(web.Clock.GetUtcNow()) + 1); // within the 24 free hours: charged
        var bid = await (await sme.PostJson("/api/v1/bids", new
        {
            gpuModel = "RTX4090-24G", gpuCount = 2, durationHours = 4, earliestStart = start, latestStart = start, maxFenPerGpuHour = 3_000, timeInForce = "IOC",
        }, Scenario.Unique("bid"))).Read<BidView>();
        var reservationId = Assert.Single(bid.Fills).ReservationId;

        var quote = await (await sme.GetAsync($"/api/v1/reservations/{reservationId}/cancellation")).Read<CancellationQuote>();
        Assert.Equal((true, 2_000L, 18_000L), (quote.Cancellable, quote.ChargeFen, quote.CashRefundFen));
        Assert.Equal(HttpStatusCode.OK, (await sme.PostAsync($"/api/v1/reservations/{reservationId}/cancel", null)).StatusCode);
        var cash = await (await sme.GetAsync("/api/v1/tenants/me/cash")).Read<CashBalance>();
        Assert.Equal((28_000L, 0L), (cash.AvailableFen, cash.HeldFen));
        Assert.Equal(("cancel", 18_000L, -20_000L), (cash.Movements[0].Kind, cash.Movements[0].AvailableChangeFen, cash.Movements[0].HeldChangeFen));
        await LedgerAssert.Clean(web.Database, web.Clock.GetUtcNow());
    }
}
