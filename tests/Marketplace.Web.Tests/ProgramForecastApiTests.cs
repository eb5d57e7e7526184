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
        var opens = web.Clock.GetUtcNow().AddDays(-1);
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
    public async Task Only_the_programme_office_reads_a_forecast_and_an_unknown_programme_is_not_found()
    {
        var api = new Api(web);
        var (_, sme) = await api.Tenant("Ningxia");

        Assert.Equal(HttpStatusCode.Forbidden, (await sme.GetAsync("/api/v1/programs/fc-any/forecast")).StatusCode);
        var missing = await web.Admin().GetAsync($"/api/v1/programs/{Scenario.Unique("fc-none")}/forecast");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal("application/problem+json", missing.Content.Headers.ContentType?.MediaType);
        Assert.Contains("\"code\":\"not-found\"", await missing.Content.ReadAsStringAsync());
    }
}
