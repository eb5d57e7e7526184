using System.Globalization;
using System.Text;
using Marketplace.Domain;
using Marketplace.Domain.Forecasting;

namespace Marketplace.Load;

/// <summary>
/// A voucher programme's first days on a simulated clock, one Beijing day per step: firms claim vouchers, register their
/// R&amp;D activity within the deadline or let the voucher lapse, spend it on rentals, and let what is left expire at the end
/// of its validity; lapsed and expired value goes back to the budget. Seeded, so a run can be repeated.
/// </summary>
public sealed class SimulatedProgramme(int seed)
{
    public const long BudgetFen = 2_000_000_000;          // 20 million yuan
    public const long CapFen = 5_000_000;                 // 50,000 yuan, Beijing's cap
    public const int RegistrationDeadlineDays = 15;
    public const int ValidityMonths = 3;

    public static readonly DateOnly FirstDay = new(2026, 3, 2);

    private sealed class Voucher
    {
        public long FaceFen;
        public long SpentFen;
        public DateOnly RegistersOn;
        public DateOnly? ExpiresAfter;
        public bool Registers;
        public bool Ended;
    }

    private readonly Random _random = new(seed);
    private readonly List<Voucher> _open = [];

    // Each programme draws its own demand: firms a working day at launch, how fast that grows, how many register.
    private readonly double _firmsPerDay = 5 + new Random(seed).NextDouble() * 5;
    private readonly double _growth = new Random(seed + 1).NextDouble() * 0.8;
    private readonly double _registers = 0.7 + new Random(seed + 2).NextDouble() * 0.25;

    public List<ProgrammeDay> Days { get; } = [];

    public long Remaining { get; private set; } = BudgetFen;

    /// <summary>Runs the programme for the given number of days from its first day.</summary>
    public SimulatedProgramme Run(int days)
    {
        for (var d = Days.Count; d < days; d++)
        {
            Days.Add(Step(FirstDay.AddDays(d), d));
        }
        return this;
    }

    private ProgrammeDay Step(DateOnly day, int index)
    {
        long claimed = 0, registered = 0, returned = 0, spent = 0;
        var weekend = day.DayOfWeek is DayOfWeek.Saturday or DayOfWeek.Sunday;
        var firms = Poisson(_firmsPerDay * (1 + _growth * index / 120.0) * (weekend ? 0.3 : 1));
        for (var f = 0; f < firms && Remaining > 0; f++)
        {
            // Face values in whole thousands of yuan from 10,000 to the cap; the last claim takes what is left.
            var face = Math.Min(Remaining, _random.Next(10, 51) * 100_000L);
            Remaining -= face;
            claimed += face;
            var registers = _random.NextDouble() < _registers;
            _open.Add(new Voucher
            {
                FaceFen = face,
                Registers = registers,
                RegistersOn = day.AddDays(registers ? _random.Next(0, RegistrationDeadlineDays + 1) : RegistrationDeadlineDays + 1),
            });
        }
        foreach (var v in _open)
        {
            if (v.Ended || v.RegistersOn > day)
            {
                continue;
            }
            if (!v.Registers)
            {
                // Not registered by the end of the deadline's last day: the sweep lapses it the next day.
                returned += v.FaceFen;
                v.Ended = true;
                continue;
            }
            if (v.ExpiresAfter is null)
            {
                registered += v.FaceFen;
                v.ExpiresAfter = ChinaTime.DateOf(ChinaTime.ValidUntilAfterMonths(ChinaTime.EndOf(day).AddHours(-12), ValidityMonths).AddTicks(-1));
            }
            if (day > v.ExpiresAfter)
            {
                returned += v.FaceFen - v.SpentFen;
                v.Ended = true;
                continue;
            }
            // A rental settles on about one day in four, using 5 to 30 % of the face value.
            if (_random.NextDouble() < 0.25)
            {
                var use = Math.Min(v.FaceFen - v.SpentFen, v.FaceFen * _random.Next(5, 31) / 100);
                v.SpentFen += use;
                spent += use;
                v.Ended = v.SpentFen == v.FaceFen;
            }
        }
        Remaining += returned;
        _open.RemoveAll(v => v.Ended);
        return new ProgrammeDay(day, claimed, registered, returned, spent);
    }

    private int Poisson(double mean)
    {
        // Knuth's method: fine for the few dozen firms a day simulated here.
        var limit = Math.Exp(-mean);
        var product = _random.NextDouble();
        var count = 0;
        while (product > limit)
        {
            count++;
            product *= _random.NextDouble();
        }
        return count;
    }
}

/// <summary>
/// The forecast's backtest: the forecast made at day 60 of a simulated programme against what the programme did by day
/// 120. Each programme is seeded; the figures are appended to BENCHMARKS.md.
/// </summary>
public static class Backtest
{
    public const int ForecastDay = 60;
    public const int CheckDay = 120;

    public sealed record Outcome(int Seed, DateForecast Issued, DateOnly? ActualIssued, SpentForecast Spent, long ActualSpent,
        AmountForecast Returned, long ActualReturned, long IssuedAtForecast, long RemainingAtForecast);

    public static Outcome Run(int seed)
    {
        var programme = new SimulatedProgramme(seed).Run(CheckDay + 1);
        var today = SimulatedProgramme.FirstDay.AddDays(ForecastDay);
        var history = new ProgrammeHistory(SimulatedProgramme.BudgetFen, SimulatedProgramme.FirstDay, today, programme.Days.Take(ForecastDay).ToList(),
            LastClaimDay: SimulatedProgramme.FirstDay.AddDays(364));
        // The dates look as far as they need to; the amounts are read at day 120, the end of what is checked.
        var dates = ProgrammeForecaster.Forecast(history);
        var byCheck = ProgrammeForecaster.Forecast(history, ForecastOptions.Default with { HorizonDays = CheckDay - ForecastDay + 1 });

        long issued = 0, returned = 0, spent = 0;
        DateOnly? issuedOn = null;
        foreach (var day in programme.Days)
        {
            issued += day.ClaimedFen;
            returned += day.ReturnedFen;
            spent += day.SpentFen;
            if (issuedOn is null && issued - returned >= SimulatedProgramme.BudgetFen)
            {
                issuedOn = day.Day;
            }
        }
        return new Outcome(seed, dates.FullyIssued, issuedOn, byCheck.SpentByEnd, spent, byCheck.UnspentReturned, returned,
            dates.IssuedFen, SimulatedProgramme.BudgetFen - dates.IssuedFen + dates.ReturnedFen);
    }

    /// <summary>Runs the backtest over several seeded programmes, prints a table and returns it as Markdown.</summary>
    public static string Report(int firstSeed, int programmes, Action<string> print)
    {
        var outcomes = Enumerable.Range(firstSeed, programmes).Select(Run).ToList();
        var table = new StringBuilder();
        table.AppendLine("| seed | issued by day 60 | fully issued: forecast (80 % interval) | actual | error (days) | spent by day 120: forecast (interval) | actual | error | returned unspent by day 120: forecast (interval) | actual | error |");
        table.AppendLine("|---:|---:|---|---|---:|---|---:|---:|---|---:|---:|");
        foreach (var o in outcomes)
        {
            table.AppendLine(CultureInfo.InvariantCulture, $"| {o.Seed} | {Yuan(o.IssuedAtForecast)} | {Date(o.Issued.Date)} ({Date(o.Issued.Low)} – {Date(o.Issued.High)}) | " +
                $"{Date(o.ActualIssued)} | {DayError(o)} | {Yuan(o.Spent.ExpectedFen!.Value)} ({Yuan(o.Spent.LowFen!.Value)} – {Yuan(o.Spent.HighFen!.Value)}) | " +
                $"{Yuan(o.ActualSpent)} | {Percent(o.Spent.ExpectedFen.Value, o.ActualSpent)} | " +
                $"{Yuan(o.Returned.ExpectedFen!.Value)} ({Yuan(o.Returned.LowFen!.Value)} – {Yuan(o.Returned.HighFen!.Value)}) | {Yuan(o.ActualReturned)} | " +
                $"{Percent(o.Returned.ExpectedFen.Value, o.ActualReturned)} |");
        }
        var dated = outcomes.Where(o => o.ActualIssued is not null && o.Issued.Date is not null).ToList();
        var summary = new StringBuilder();
        summary.AppendLine(CultureInfo.InvariantCulture, $"- {programmes} programmes (seeds {firstSeed}–{firstSeed + programmes - 1}), forecast at day {ForecastDay}, checked at day {CheckDay}.");
        var dateError = dated.Count == 0 ? "No date to compare." : string.Create(CultureInfo.InvariantCulture,
            $"Date error where both exist: mean absolute {dated.Average(o => Math.Abs(DayDifference(o))):F1} days, " +
            $"mean {dated.Average(DayDifference):+0.0;-0.0;0} days (positive: forecast late), largest {dated.Max(o => Math.Abs(DayDifference(o)))} days; " +
            $"actual inside the interval {dated.Count(o => Inside(o.ActualIssued!.Value, o.Issued))} of {dated.Count}.");
        summary.AppendLine(CultureInfo.InvariantCulture,
            $"- Fully issued by day {CheckDay}: {outcomes.Count(o => o.ActualIssued is not null)} of {programmes}; forecast (median) by day {CheckDay}: " +
            $"{outcomes.Count(o => o.Issued.Date is { } d && d <= SimulatedProgramme.FirstDay.AddDays(CheckDay))}. {dateError}");
        summary.AppendLine(CultureInfo.InvariantCulture,
            $"- Spent by day {CheckDay}: mean absolute error {outcomes.Average(o => Math.Abs(Error(o.Spent.ExpectedFen!.Value, o.ActualSpent))):F1} %, " +
            $"mean {outcomes.Average(o => Error(o.Spent.ExpectedFen!.Value, o.ActualSpent)):+0.0;-0.0;0} %; actual inside the interval " +
            $"{outcomes.Count(o => o.ActualSpent >= o.Spent.LowFen && o.ActualSpent <= o.Spent.HighFen)} of {programmes}.");
        summary.AppendLine(CultureInfo.InvariantCulture,
            $"- Returned unspent (lapsed or expired) by day {CheckDay}: mean absolute error {outcomes.Average(o => Math.Abs(Error(o.Returned.ExpectedFen!.Value, o.ActualReturned))):F1} %, " +
            $"mean {outcomes.Average(o => Error(o.Returned.ExpectedFen!.Value, o.ActualReturned)):+0.0;-0.0;0} %; actual inside the interval " +
            $"{outcomes.Count(o => o.ActualReturned >= o.Returned.LowFen && o.ActualReturned <= o.Returned.HighFen)} of {programmes}.");
        print(table.ToString());
        print(summary.ToString());
        return $"{summary}\n{table}";
    }

    private static int DayDifference(Outcome o) => o.Issued.Date!.Value.DayNumber - o.ActualIssued!.Value.DayNumber;

    private static string DayError(Outcome o) => o.ActualIssued is null || o.Issued.Date is null ? "—" : DayDifference(o).ToString("+0;-0;0", CultureInfo.InvariantCulture);

    private static bool Inside(DateOnly actual, DateForecast forecast) =>
        (forecast.Low is null || actual >= forecast.Low) && (forecast.High is null || actual <= forecast.High);

    private static double Error(long forecast, long actual) => actual == 0 ? (forecast == 0 ? 0 : 100) : 100.0 * (forecast - actual) / actual;

    private static string Percent(long forecast, long actual) => Error(forecast, actual).ToString("+0.0;-0.0;0", CultureInfo.InvariantCulture) + " %";

    private static string Yuan(long fen) => (fen / 100m).ToString("#,0", CultureInfo.InvariantCulture);

    private static string Date(DateOnly? day) => day?.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) ?? "never";
}
