using System.Net;
using System.Net.Http.Json;
using Marketplace.Domain;
using Marketplace.Domain.Forecasting;
using Marketplace.Testing;
using Marketplace.Web.Queries;
using Xunit;

namespace Marketplace.Web.Tests;

public sealed class ForecastCluster : WebCluster;

[CollectionDefinition(Name)]
public sealed class ForecastCollection : ICollectionFixture<ForecastCluster>
{
    public const string Name = "forecast";
}

/// <summary>A programme's forecast, read through the API from a history built through the API on the market clock.</summary>
[Collection(ForecastCollection.Name)]
public sealed class ProgramForecastApiTests(ForecastCluster web)
{
    [Fact]
    public async Task A_programme_issuing_the_same_value_each_day_is_forecast_to_be_fully_issued_when_arithmetic_says()
    {
        var api = new Api(web);
        var admin = web.Admin();
        var programId = Scenario.Unique("fc-nx");
        // A fixed window (the tests of this class move the clock on, in any order): claims close on 22 November 2027.
        var opens = MarketCluster.Start.AddDays(-1);
        var created = await admin.PostJson("/api/v1/programs", new
        {
            id = programId, name = "Ningxia compute voucher (forecast)", issuer = "Ningxia Department of Science and Technology",
            province = "Ningxia", claimOpensAt = opens, claimClosesAt = opens.AddYears(1), budgetFen = 10_000_000, voucherCapFen = 5_000_000,
            coverageBasisPoints = 8_000, allowedTenantKinds = new[] { "Sme" }, registrationDeadlineDays = 15, validityDays = 90,
        });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);

        // Three Beijing days in a row, one firm claims 1,000,000 fen and registers its activity the same day.
        var firstDay = ChinaTime.DateOf(web.Clock.GetUtcNow());
        for (var day = 0; day < 3; day++)
        {
            var (_, sme) = await api.Tenant("Ningxia");
            var voucher = await (await sme.PostJson($"/api/v1/programs/{programId}/vouchers", new { amountFen = 1_000_000 }, $"claim-{day}")).Read<VoucherView>();
            Assert.Equal(HttpStatusCode.OK, (await sme.PostAsJsonAsync($"/api/v1/vouchers/{voucher.Id}/activity",
                new { title = "Speech model", description = "Training on Ningxia dialect recordings", plannedGpuHours = 200 })).StatusCode);
            web.Advance(TimeSpan.FromDays(1));
        }

        var regulator = web.Regulator();
        var answer = (await regulator.GetFromJsonAsync<ProgramForecast>($"/api/v1/programs/{programId}/forecast", WebCluster.Json))!;
        var takeUp = (await regulator.GetFromJsonAsync<TakeUp>($"/api/v1/programs/{programId}/takeup", WebCluster.Json))!;
        var forecast = answer.Forecast;

        var today = firstDay.AddDays(3);
        Assert.Equal((programId, today, 3), (answer.ProgramId, forecast.AsOf, forecast.HistoryDays));
        Assert.Equal((takeUp.IssuedFen, takeUp.ReturnedFen, takeUp.SpentFen), (forecast.IssuedFen, forecast.ReturnedFen, forecast.SpentFen));
        Assert.Equal(3_000_000, forecast.IssuedFen);
        Assert.Equal(new DailyRates(1_000_000, 1_000_000, 0, 0), forecast.RatesPerDay);
        // 7,000,000 fen left at 1,000,000 a day: the seventh day from today issues the last of it.
        var issued = today.AddDays(6);
        Assert.Equal(new DateForecast(ForecastStatus.Projected, issued, issued, issued), forecast.FullyIssued);
        Assert.Equal(new DateForecast(ForecastStatus.Never, null, null, null), forecast.FullySpent);
        // Nothing is spent, so all 10,000,000 fen expires with the last voucher: claims close on 22 November 2027 (Beijing),
        // registration is due by the end of 7 December, and 90 days from that midnight end on 6 March 2028.
        Assert.Equal(new AmountForecast(ForecastStatus.Projected, 0, 10_000_000, 10_000_000, 10_000_000), forecast.UnspentReturned);
        Assert.Equal(new DateOnly(2028, 3, 6), forecast.ProjectedTo);
    }

    [Fact]
    public async Task Spending_and_a_lapse_are_counted_on_the_beijing_days_the_ledger_posted_them()
    {
        var api = new Api(web);
        var admin = web.Admin();
        var programId = Scenario.Unique("fc-gs");
        var opens = web.Clock.GetUtcNow().AddDays(-1);
        Assert.Equal(HttpStatusCode.Created, (await admin.PostJson("/api/v1/programs", new
        {
            id = programId, name = "Gansu compute voucher (forecast)", issuer = "Gansu Department of Science and Technology",
            province = "Ningxia", claimOpensAt = opens, claimClosesAt = opens.AddYears(1), budgetFen = 20_000_000, voucherCapFen = 5_000_000,
            coverageBasisPoints = 8_000, allowedTenantKinds = new[] { "Sme" }, registrationDeadlineDays = 15, validityDays = 90,
        })).StatusCode);
        var (providerId, provider) = await api.Provider("Gansu");
        await api.Pool(provider, providerId, "A800-80G", gpus: 8, ask: 2_500);
        Assert.Equal(HttpStatusCode.OK, (await admin.PutAsJsonAsync($"/api/v1/programs/{programId}/providers/{providerId}",
            new { batchId = "fc-b1", effectiveFrom = opens })).StatusCode);

        // One firm claims, registers and rents 2 GPUs for 4 hours (16,000 fen from the voucher); another never registers.
        var (_, sme) = await api.Tenant("Ningxia");
        var voucher = await (await sme.PostJson($"/api/v1/programs/{programId}/vouchers", new { amountFen = 2_000_000 }, "fc-claim-1")).Read<VoucherView>();
        Assert.Equal(HttpStatusCode.OK, (await sme.PostAsJsonAsync($"/api/v1/vouchers/{voucher.Id}/activity",
            new { title = "Wind forecasting", description = "Training on turbine telemetry", plannedGpuHours = 100 })).StatusCode);
        var claimDay = ChinaTime.DateOf(web.Clock.GetUtcNow());
        var start = Hours.ToTime(Hours.FirstBookable(web.Clock.GetUtcNow()) + 1);
        var bid = await (await sme.PostJson("/api/v1/bids", new
        {
            gpuModel = "A800-80G", gpuCount = 2, durationHours = 4, earliestStart = start, latestStart = start, maxFenPerGpuHour = 3_000,
            voucherId = voucher.Id, timeInForce = "IOC",
        }, "fc-bid-1")).Read<BidView>();
        var fill = Assert.Single(bid.Fills);
        var (_, late) = await api.Tenant("Ningxia");
        var lapsing = await (await late.PostJson($"/api/v1/programs/{programId}/vouchers", new { amountFen = 1_000_000 }, "fc-claim-2")).Read<VoucherView>();

        web.Advance(fill.EndsAt - web.Clock.GetUtcNow());
        await web.Grains.GetGrain<Marketplace.Grains.ISweeperGrain>(0).Tick();
        await web.Grains.GetGrain<Marketplace.Grains.ISweeperGrain>(0).Tick();
        var spentDay = ChinaTime.DateOf(web.Clock.GetUtcNow());
        web.Advance(lapsing.RegistrationDeadline - web.Clock.GetUtcNow() + TimeSpan.FromSeconds(1));
        await web.Grains.GetGrain<Marketplace.Grains.ISweeperGrain>(0).Tick();
        var lapsedDay = ChinaTime.DateOf(web.Clock.GetUtcNow());

        var regulator = web.Regulator();
        var answer = (await regulator.GetFromJsonAsync<ProgramForecast>($"/api/v1/programs/{programId}/forecast", WebCluster.Json))!;
        var takeUp = (await regulator.GetFromJsonAsync<TakeUp>($"/api/v1/programs/{programId}/takeup", WebCluster.Json))!;

        var expected = new Dictionary<DateOnly, (long, long, long, long)> { [claimDay] = (3_000_000, 2_000_000, 0, 0) };
        expected[spentDay] = Add(expected.GetValueOrDefault(spentDay), (0, 0, 0, 16_000));
        expected[lapsedDay] = Add(expected.GetValueOrDefault(lapsedDay), (0, 0, 1_000_000, 0));
        Assert.Equal(expected.OrderBy(e => e.Key).Select(e => (e.Key, e.Value)).ToList(),
            answer.Days.Select(d => (d.Day, (d.ClaimedFen, d.RegisteredFen, d.ReturnedFen, d.SpentFen))).ToList());
        var forecast = answer.Forecast;
        Assert.Equal((takeUp.IssuedFen, takeUp.ReturnedFen, takeUp.SpentFen), (forecast.IssuedFen, forecast.ReturnedFen, forecast.SpentFen));
        Assert.Equal((3_000_000L, 1_000_000L, 16_000L), (forecast.IssuedFen, forecast.ReturnedFen, forecast.SpentFen));
        Assert.Equal(1_000_000, forecast.UnspentReturned.SoFarFen);
        Assert.Equal(16_000, forecast.SpentByEnd.SoFarFen);
        Assert.Equal(lapsedDay, forecast.AsOf);
    }

    private static (long, long, long, long) Add((long, long, long, long) a, (long, long, long, long) b) =>
        (a.Item1 + b.Item1, a.Item2 + b.Item2, a.Item3 + b.Item3, a.Item4 + b.Item4);

    [Fact]
    public async Task Only_the_programme_office_reads_a_forecast_and_an_unknown_programme_is_not_found()
    {
        var api = new Api(web);
        var (_, sme) = await api.Tenant("Ningxia");

        Assert.Equal(HttpStatusCode.Forbidden, (await sme.GetAsync("/api/v1/programs/fc-any/forecast")).StatusCode);
        var missing = await web.Admin().GetAsync($"/api/v1/programs/{Scenario.Unique("fc-none")}/forecast");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal("application/problem+json", missing.Content.Headers.ContentType?.MediaType);
        Assert.Contains("\"code\":\"not-found\"", await missing.Content.ReadAsStringAsync());

        using var document = System.Text.Json.JsonDocument.Parse(await web.Client().GetStringAsync("/openapi/v1.json"));
        var get = document.RootElement.GetProperty("paths").GetProperty("/api/v1/programs/{id}/forecast").GetProperty("get");
        Assert.StartsWith("When the program's budget will be fully issued", get.GetProperty("summary").GetString());
        Assert.True(get.GetProperty("responses").TryGetProperty("200", out _));
    }
}
