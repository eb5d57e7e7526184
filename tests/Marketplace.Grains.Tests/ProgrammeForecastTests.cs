using Marketplace.Domain.Forecasting;
using Xunit;

namespace Marketplace.Grains.Tests;

/// <summary>The programme forecast on histories whose future is known by arithmetic.</summary>
public sealed class ProgrammeForecastTests
{
    private static readonly DateOnly First = new(2026, 3, 1);

    private static List<ProgrammeDay> Constant(int days, long claimed, long returned, long spent, long registered = 0) =>
        Enumerable.Range(0, days).Select(d => new ProgrammeDay(First.AddDays(d), claimed, registered, returned, spent)).ToList();

    [Fact]
    public void Constant_rates_give_the_dates_arithmetic_gives_and_the_interval_is_the_point()
    {
        // Ten days of 20,000 fen claimed and 10,000 fen spent a day against a 1,000,000 fen budget: 200,000 issued and
        // 100,000 spent by today (11 March). The 800,000 left to issue takes 40 more days (11 March to 19 April); the
        // 900,000 left to spend takes 90 (to 8 June), and on that day the last open voucher value is spent.
        var history = new ProgrammeHistory(1_000_000, First, First.AddDays(10), Constant(10, claimed: 20_000, returned: 0, spent: 10_000, registered: 20_000));

        var forecast = ProgrammeForecaster.Forecast(history);

        Assert.Equal(new DailyRates(20_000, 20_000, 0, 10_000), forecast.RatesPerDay);
        Assert.Equal((200_000L, 0L, 100_000L), (forecast.IssuedFen, forecast.ReturnedFen, forecast.SpentFen));
        var issued = new DateOnly(2026, 4, 19);
        var spent = new DateOnly(2026, 6, 8);
        Assert.Equal(new DateForecast(ForecastStatus.Projected, issued, issued, issued), forecast.FullyIssued);
        Assert.Equal(new DateForecast(ForecastStatus.Projected, spent, spent, spent), forecast.FullySpent);
        Assert.Equal(new AmountForecast(ForecastStatus.Projected, 0, 0, 0, 0), forecast.UnspentReturned);
        Assert.Equal(new SpentForecast(ForecastStatus.Projected, 100_000, 1_000_000, 1_000_000, 1_000_000), forecast.SpentByEnd);
        Assert.Equal(10, forecast.HistoryDays);
    }

    [Fact]
    public void Constant_returns_count_as_lapsed_and_what_is_open_when_the_programme_ends_expires()
    {
        // 20,000 claimed, 2,000 returned unspent and 8,000 spent a day for ten days: 20,000 returned so far and 100,000 open.
        // The programme's last day is 30 days from today: 30 x 2,000 more is returned, open value grows by 10,000 a day to
        // 400,000 and expires then. The remaining budget (820,000, less 18,000 a day) is never fully issued, nor spent.
        var today = First.AddDays(10);
        var history = new ProgrammeHistory(1_000_000, First, today, Constant(10, claimed: 20_000, returned: 2_000, spent: 8_000),
            LastDay: today.AddDays(29));

        var forecast = ProgrammeForecaster.Forecast(history);

        Assert.Equal(new DateForecast(ForecastStatus.Never, null, null, null), forecast.FullyIssued);
        Assert.Equal(new DateForecast(ForecastStatus.Never, null, null, null), forecast.FullySpent);
        Assert.Equal(new AmountForecast(ForecastStatus.Projected, 20_000, 20_000 + 60_000 + 400_000, 480_000, 480_000), forecast.UnspentReturned);
        Assert.Equal(new SpentForecast(ForecastStatus.Projected, 80_000, 80_000 + 30 * 8_000, 320_000, 320_000), forecast.SpentByEnd);
        Assert.Equal(today.AddDays(29), forecast.ProjectedTo);
    }

    [Fact]
    public void A_shorter_horizon_gives_what_is_spent_and_returned_by_its_last_day()
    {
        // The backtest's question: by the 61st day from today, at 8,000 spent and 2,000 returned a day.
        var today = First.AddDays(10);
        var history = new ProgrammeHistory(1_000_000, First, today, Constant(10, claimed: 20_000, returned: 2_000, spent: 8_000));

        var forecast = ProgrammeForecaster.Forecast(history, ForecastOptions.Default with { HorizonDays = 61 });

        Assert.Equal(today.AddDays(60), forecast.ProjectedTo);
        Assert.Equal(80_000 + 61 * 8_000, forecast.SpentByEnd.ExpectedFen);
        Assert.Equal(20_000 + 61 * 2_000, forecast.UnspentReturned.ExpectedFen);
    }

    [Fact]
    public void No_claims_are_projected_after_the_claim_window_closes()
    {
        // Claims stop after 5 more days (100,000 more issued, 300,000 in all, 700,000 never issued). Open value grows to
        // 150,000 by then and spending 10,000 a day uses it up 15 days later. The budget is never fully spent.
        var today = First.AddDays(10);
        var history = new ProgrammeHistory(1_000_000, First, today, Constant(10, claimed: 20_000, returned: 0, spent: 10_000),
            LastClaimDay: today.AddDays(4));

        var forecast = ProgrammeForecaster.Forecast(history);

        Assert.Equal(ForecastStatus.Never, forecast.FullyIssued.Status);
        Assert.Equal(ForecastStatus.Never, forecast.FullySpent.Status);
        Assert.Null(forecast.FullySpent.Date);
        Assert.Equal(0, forecast.UnspentReturned.ExpectedFen);
    }

    [Fact]
    public void Today_counts_what_it_has_already_seen_once()
    {
        // Today has already seen 15,000 of its 20,000 claims: the day adds 5,000 more, so the 800,000 left after ten days
        // (785,000 after today's first claims) still runs out on the fortieth day, 19 April.
        var today = First.AddDays(10);
        var days = Constant(10, claimed: 20_000, returned: 0, spent: 10_000);
        days.Add(new ProgrammeDay(today, 15_000, 0, 0, 0));

        var forecast = ProgrammeForecaster.Forecast(new ProgrammeHistory(1_000_000, First, today, days));

        Assert.Equal(215_000, forecast.IssuedFen);
        Assert.Equal(new DateOnly(2026, 4, 19), forecast.FullyIssued.Date);
    }

    [Fact]
    public void With_no_history_there_is_nothing_to_project()
    {
        var forecast = ProgrammeForecaster.Forecast(new ProgrammeHistory(1_000_000, First, First, []));

        Assert.Equal(new DateForecast(ForecastStatus.NoHistory, null, null, null), forecast.FullyIssued);
        Assert.Equal(new DateForecast(ForecastStatus.NoHistory, null, null, null), forecast.FullySpent);
        Assert.Equal(new AmountForecast(ForecastStatus.NoHistory, 0, null, null, null), forecast.UnspentReturned);
        Assert.Equal(new SpentForecast(ForecastStatus.NoHistory, 0, null, null, null), forecast.SpentByEnd);
        Assert.Equal(0, forecast.HistoryDays);
    }

    [Fact]
    public void Zero_rates_never_run_the_budget_out()
    {
        var forecast = ProgrammeForecaster.Forecast(new ProgrammeHistory(1_000_000, First, First.AddDays(30), []));

        Assert.Equal(new DailyRates(0, 0, 0, 0), forecast.RatesPerDay);
        Assert.Equal(new DateForecast(ForecastStatus.Never, null, null, null), forecast.FullyIssued);
        Assert.Equal(new DateForecast(ForecastStatus.Never, null, null, null), forecast.FullySpent);
        Assert.Equal(new AmountForecast(ForecastStatus.Projected, 0, 0, 0, 0), forecast.UnspentReturned);
        Assert.Equal(First.AddDays(30 + ForecastOptions.Default.HorizonDays - 1), forecast.ProjectedTo);
    }

    [Fact]
    public void A_budget_already_fully_issued_reports_the_day_it_was()
    {
        // 250,000 a day for four days issues the 1,000,000 budget on 4 March. Spending 35,000 a day, 350,000 is spent by
        // today (11 March): the 650,000 left takes 19 days (18 x 35,000 = 630,000), to 29 March, in every simulated future.
        var days = Enumerable.Range(0, 10).Select(d => new ProgrammeDay(First.AddDays(d), d < 4 ? 250_000 : 0, 0, 0, 35_000)).ToList();
        var history = new ProgrammeHistory(1_000_000, First, First.AddDays(10), days);

        var forecast = ProgrammeForecaster.Forecast(history);

        var on = new DateOnly(2026, 3, 4);
        Assert.Equal(new DateForecast(ForecastStatus.Reached, on, on, on), forecast.FullyIssued);
        Assert.Equal(350_000, forecast.SpentFen);
        var spent = new DateOnly(2026, 3, 29);
        Assert.Equal(new DateForecast(ForecastStatus.Projected, spent, spent, spent), forecast.FullySpent);
    }

    [Fact]
    public void A_budget_issued_then_given_back_by_a_lapse_is_no_longer_fully_issued()
    {
        var days = new List<ProgrammeDay>
        {
            new(First, 1_000_000, 0, 0, 0),
            new(First.AddDays(1), 0, 0, 100_000, 0),
        };

        var forecast = ProgrammeForecaster.Forecast(new ProgrammeHistory(1_000_000, First, First.AddDays(2), days));

        Assert.NotEqual(ForecastStatus.Reached, forecast.FullyIssued.Status);
        Assert.Equal(100_000, forecast.UnspentReturned.SoFarFen);
    }

    [Fact]
    public void Noisy_rates_give_an_interval_around_the_point_and_the_same_answer_every_time()
    {
        var random = new Random(7);
        var days = Enumerable.Range(0, 60).Select(d => new ProgrammeDay(First.AddDays(d), random.Next(0, 4) * 50_000L, 0,
            random.Next(0, 2) * 5_000L, random.Next(0, 3) * 10_000L)).ToList();
        var history = new ProgrammeHistory(20_000_000, First, First.AddDays(60), days);

        var forecast = ProgrammeForecaster.Forecast(history);

        Assert.Equal(ForecastStatus.Projected, forecast.FullyIssued.Status);
        Assert.True(forecast.FullyIssued.Low < forecast.FullyIssued.High, $"{forecast.FullyIssued}");
        Assert.InRange(forecast.FullyIssued.Date!.Value, forecast.FullyIssued.Low!.Value, forecast.FullyIssued.High!.Value);
        Assert.True(forecast.UnspentReturned.LowFen < forecast.UnspentReturned.HighFen, $"{forecast.UnspentReturned}");
        Assert.Equal(forecast, ProgrammeForecaster.Forecast(history));
    }

    [Fact]
    public void A_day_after_today_is_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => ProgrammeForecaster.Forecast(
            new ProgrammeHistory(1_000, First, First.AddDays(1), [new ProgrammeDay(First.AddDays(2), 1, 0, 0, 0)])));
    }
}
