namespace Marketplace.Domain.Forecasting;

/// <summary>One Beijing calendar day of a programme's facts, in fen.</summary>
/// <param name="ClaimedFen">Face value of the vouchers claimed (issued) that day.</param>
/// <param name="RegisteredFen">Face value of the vouchers whose R&amp;D activity was registered that day.</param>
/// <param name="ReturnedFen">Value returned to the budget unspent that day: vouchers that lapsed or expired, and holds released after their voucher ended.</param>
/// <param name="SpentFen">Value captured from vouchers that day (settled rentals).</param>
public sealed record ProgrammeDay(DateOnly Day, long ClaimedFen, long RegisteredFen, long ReturnedFen, long SpentFen);

/// <summary>What the forecast is made from.</summary>
/// <param name="FirstDay">The programme's first day (Beijing): the history starts there, a day without facts counts as a quiet day.</param>
/// <param name="Today">The day the forecast is made (Beijing). Days before it are complete and give the rates; today's facts so far count in the totals.</param>
/// <param name="Days">The days with facts, in any order; a day may appear more than once (its facts are added).</param>
/// <param name="LastClaimDay">The last day vouchers can be claimed (the claim window's close), if any: no claims are projected after it.</param>
/// <param name="LastDay">The last day a voucher of the programme can still be open (claims close + registration deadline + validity), if known:
/// whatever is still unspent then expires.</param>
public sealed record ProgrammeHistory(
    long BudgetFen,
    DateOnly FirstDay,
    DateOnly Today,
    IReadOnlyList<ProgrammeDay> Days,
    DateOnly? LastClaimDay = null,
    DateOnly? LastDay = null);

/// <summary>How a projected event stands.</summary>
public enum ForecastStatus
{
    /// <summary>It has already happened: the date is the day it did.</summary>
    Reached,

    /// <summary>Projected at the rates seen: the date is the projection's, with an interval.</summary>
    Projected,

    /// <summary>At the rates seen it does not happen before the programme ends (or within the horizon): no date.</summary>
    Never,

    /// <summary>The programme has no complete day yet: there is nothing to project from.</summary>
    NoHistory,
}

/// <summary>A projected date (Beijing calendar day) with its interval; a bound is null when, in that share of futures, it never happens.</summary>
public sealed record DateForecast(ForecastStatus Status, DateOnly? Date, DateOnly? Low, DateOnly? High);

/// <summary>
/// The value returned to the budget unspent over the programme's life (lapsed or expired vouchers): what has been returned
/// so far plus what the projection returns, with its interval. The amounts are null when there is no history.
/// </summary>
public sealed record AmountForecast(ForecastStatus Status, long SoFarFen, long? ExpectedFen, long? LowFen, long? HighFen);

/// <summary>The value spent by the end of the projection (<see cref="ProgrammeForecast.ProjectedTo"/>), with its interval; null amounts when there is no history.</summary>
public sealed record SpentForecast(ForecastStatus Status, long SoFarFen, long? ExpectedFen, long? LowFen, long? HighFen);

/// <summary>The smoothed daily rates the projection carries forward, fen per day.</summary>
public sealed record DailyRates(long ClaimedFen, long RegisteredFen, long ReturnedFen, long SpentFen);

public sealed record ProgrammeForecast(
    DateOnly AsOf,
    int HistoryDays,
    long BudgetFen,
    long IssuedFen,
    long ReturnedFen,
    long SpentFen,
    DailyRates RatesPerDay,
    DateForecast FullyIssued,
    DateForecast FullySpent,
    AmountForecast UnspentReturned,
    SpentForecast SpentByEnd,
    DateOnly ProjectedTo,
    int IntervalPercent);

/// <summary>The method's settings; the defaults are what the API answers with.</summary>
public sealed record ForecastOptions(double Alpha = 0.2, int Paths = 1_000, int Seed = 20_261_129, int LowPercentile = 10, int HighPercentile = 90,
    int HorizonDays = 3_650, int InitialDays = 7)
{
    public static readonly ForecastOptions Default = new();
}

/// <summary>
/// Projects when a programme's budget is fully issued and fully spent, and how much will lapse or expire unspent.
/// Each daily rate (claims, unspent returns, spending) is smoothed exponentially and carried forward day by day
/// against the budget in 1,000 simulated futures, each replaying the past days' one-step forecast errors (centred, drawn
/// at random with a fixed seed) through the same smoothing; the forecast is the median future and the interval the 10th
/// to 90th percentile. Constant rates give no errors, so every future is the same and the interval is the point.
/// </summary>
public static class ProgrammeForecaster
{
    public static ProgrammeForecast Forecast(ProgrammeHistory history, ForecastOptions? options = null)
    {
        options ??= ForecastOptions.Default;
        ArgumentNullException.ThrowIfNull(history);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(history.BudgetFen);
        if (options.Alpha is <= 0 or > 1 || options.Paths < 1 || options.InitialDays < 1 || options.HorizonDays < 1
            || options.LowPercentile is < 0 or > 100 || options.HighPercentile < options.LowPercentile || options.HighPercentile > 100)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options, "Forecast options out of range.");
        }

        var first = history.FirstDay;
        var today = history.Today < first ? first : history.Today;
        var complete = today.DayNumber - first.DayNumber;
        var series = new long[4][];
        for (var s = 0; s < series.Length; s++)
        {
            series[s] = new long[complete];
        }
        var sofar = new long[4];
        var cumulative = new SortedDictionary<DateOnly, (long Issued, long Returned, long Spent)>();
        foreach (var day in history.Days)
        {
            if (day.Day > today || day.Day < first)
            {
                throw new ArgumentOutOfRangeException(nameof(history), day.Day, "A day of the history lies outside the programme's first day and today.");
            }
            if (day.ClaimedFen < 0 || day.RegisteredFen < 0 || day.ReturnedFen < 0 || day.SpentFen < 0)
            {
                throw new ArgumentOutOfRangeException(nameof(history), day, "Daily amounts cannot be negative.");
            }
            long[] values = [day.ClaimedFen, day.RegisteredFen, day.ReturnedFen, day.SpentFen];
            for (var s = 0; s < values.Length; s++)
            {
                sofar[s] = checked(sofar[s] + values[s]);
                if (day.Day < today)
                {
                    series[s][day.Day.DayNumber - first.DayNumber] = checked(series[s][day.Day.DayNumber - first.DayNumber] + values[s]);
                }
            }
            cumulative.TryGetValue(day.Day, out var c);
            cumulative[day.Day] = (checked(c.Issued + day.ClaimedFen), checked(c.Returned + day.ReturnedFen), checked(c.Spent + day.SpentFen));
        }
        var (issued, returned, spent) = (sofar[Claimed], sofar[Returned], sofar[Spent]);
        var reachedIssued = ReachedOn(cumulative, history.BudgetFen, c => c.Issued - c.Returned, issued - returned);
        var reachedSpent = ReachedOn(cumulative, history.BudgetFen, c => c.Spent, spent);

        var horizonEnd = today.AddDays(options.HorizonDays - 1);
        var projectedTo = history.LastDay is { } last && last < horizonEnd ? (last < today ? today : last) : horizonEnd;
        var interval = options.HighPercentile - options.LowPercentile;
        if (complete == 0)
        {
            var none = new DateForecast(ForecastStatus.NoHistory, null, null, null);
            return new ProgrammeForecast(today, 0, history.BudgetFen, issued, returned, spent, new DailyRates(0, 0, 0, 0),
                reachedIssued is { } i ? Reached(i) : none, reachedSpent is { } s ? Reached(s) : none,
                new AmountForecast(ForecastStatus.NoHistory, returned, null, null, null), new SpentForecast(ForecastStatus.NoHistory, spent, null, null, null),
                projectedTo, interval);
        }

        var smoothed = new Smoothing[4];
        for (var s = 0; s < series.Length; s++)
        {
            smoothed[s] = Smooth(series[s], options.Alpha, options.InitialDays);
        }
        // Neither can be negative in a consistent history; a projection from a negative start would run backwards.
        var start = new Start(history.BudgetFen, Math.Max(0, checked(history.BudgetFen - issued + returned)), Math.Max(0, checked(issued - returned - spent)), spent, returned,
            today, projectedTo, history.LastDay is { } end && end <= projectedTo, history.LastClaimDay,
            sofar[Claimed] - Sum(series[Claimed]), sofar[Returned] - Sum(series[Returned]), sofar[Spent] - Sum(series[Spent]));
        var levels = new[] { smoothed[Claimed].Level, smoothed[Returned].Level, smoothed[Spent].Level };
        // Without errors to replay every future is the same one: the rates carried forward as they are.
        var quiet = smoothed.All(s => s.Residuals.All(e => e == 0));
        var paths = quiet ? [Project(start, levels, null, options.Alpha, null)] : new List<Path>(options.Paths);
        if (!quiet)
        {
            var random = new Random(options.Seed);
            // Centred, so that replaying them spreads the futures around the rates without pushing their level one way.
            var residuals = new[] { smoothed[Claimed].Residuals, smoothed[Returned].Residuals, smoothed[Spent].Residuals }
                .Select(r => { var mean = r.Average(); return r.Select(e => e - mean).ToArray(); }).ToArray();
            for (var p = 0; p < options.Paths; p++)
            {
                paths.Add(Project(start, levels, residuals, options.Alpha, random));
            }
        }

        var fullyIssued = reachedIssued is { } issuedOn ? Reached(issuedOn) : Projected(paths.Select(p => p.IssuedOn), options);
        var fullySpent = reachedSpent is { } spentOn ? Reached(spentOn) : Projected(paths.Select(p => p.SpentOn), options);
        var lapses = paths.Select(p => p.ReturnedFen).Order().ToList();
        var unspent = new AmountForecast(ForecastStatus.Projected, returned, lapses[Index(lapses.Count, 50)],
            lapses[Index(lapses.Count, options.LowPercentile)], lapses[Index(lapses.Count, options.HighPercentile)]);
        var spends = paths.Select(p => p.SpentFen).Order().ToList();
        var spentByEnd = new SpentForecast(ForecastStatus.Projected, spent, spends[Index(spends.Count, 50)],
            spends[Index(spends.Count, options.LowPercentile)], spends[Index(spends.Count, options.HighPercentile)]);
        var rates = new DailyRates(Rate(smoothed[Claimed].Level), Rate(smoothed[Registered].Level), Rate(smoothed[Returned].Level), Rate(smoothed[Spent].Level));
        return new ProgrammeForecast(today, complete, history.BudgetFen, issued, returned, spent, rates, fullyIssued, fullySpent, unspent, spentByEnd, projectedTo, interval);
    }

    private const int Claimed = 0, Registered = 1, Returned = 2, Spent = 3;

    private sealed record Smoothing(double Level, double[] Residuals);

    /// <summary>Where the projection starts: the totals now, the window it runs in, and what today has already seen.</summary>
    private sealed record Start(long BudgetFen, long RemainingFen, long OpenFen, long SpentFen, long ReturnedFen, DateOnly Today, DateOnly ProjectedTo,
        bool ExpiresAtEnd, DateOnly? LastClaimDay, long ClaimedToday, long ReturnedToday, long SpentToday);

    private sealed record Path(DateOnly? IssuedOn, DateOnly? SpentOn, long ReturnedFen, long SpentFen);

    /// <summary>Simple exponential smoothing; the level starts at the mean of the first days, and each day's error is taken before it updates the level.</summary>
    private static Smoothing Smooth(long[] values, double alpha, int initialDays)
    {
        var level = values.Take(initialDays).Average(v => (double)v);
        var residuals = new double[values.Length];
        for (var t = 0; t < values.Length; t++)
        {
            residuals[t] = values[t] - level;
            level += alpha * residuals[t];
        }
        return new Smoothing(level, residuals);
    }

    /// <summary>
    /// One future, day by day: claims take from the remaining budget (until the claim window closes), returns give unspent
    /// value back to it, spending uses up open vouchers. With residuals, each day replays a past day's errors (all three
    /// series from the same day, so their correlation stays) and the levels move as the smoothing would move them.
    /// </summary>
    private static Path Project(Start start, double[] levels, double[][]? residuals, double alpha, Random? random)
    {
        var level = (double[])levels.Clone();
        var (remaining, open, spent, returned) = (start.RemainingFen, start.OpenFen, start.SpentFen, start.ReturnedFen);
        DateOnly? issuedOn = null, spentOn = null;
        var days = residuals?[0].Length ?? 0;
        var rate = new long[3];
        for (var day = start.Today; day <= start.ProjectedTo; day = day.AddDays(1))
        {
            var drawn = random?.Next(days) ?? -1;
            for (var s = 0; s < rate.Length; s++)
            {
                var error = drawn < 0 ? 0 : residuals![s][drawn];
                rate[s] = Rate(level[s] + error);
                level[s] += alpha * error;
            }
            var first = day == start.Today;
            var claim = start.LastClaimDay is { } close && day > close ? 0 : Math.Min(Math.Max(0, rate[0] - (first ? start.ClaimedToday : 0)), remaining);
            remaining -= claim;
            open += claim;
            if (remaining == 0 && issuedOn is null)
            {
                issuedOn = day;
            }
            var giveBack = Math.Min(Math.Max(0, rate[1] - (first ? start.ReturnedToday : 0)), open);
            open -= giveBack;
            remaining += giveBack;
            returned += giveBack;
            var spend = Math.Min(Math.Max(0, rate[2] - (first ? start.SpentToday : 0)), open);
            open -= spend;
            spent += spend;
            if (spent >= start.BudgetFen)
            {
                spentOn = day;
                break;
            }
            if (open == 0 && start.LastClaimDay is { } closed && day >= closed)
            {
                break;
            }
        }
        if (spentOn is null && start.ExpiresAtEnd)
        {
            // The programme's last voucher has ended: what is still open expires and returns unspent.
            returned += open;
        }
        return new Path(issuedOn, spentOn, returned, spent);
    }

    private static DateForecast Reached(DateOnly day) => new(ForecastStatus.Reached, day, day, day);

    /// <summary>The median future's date with the interval's; a future in which it never happens counts as later than any date.</summary>
    private static DateForecast Projected(IEnumerable<DateOnly?> paths, ForecastOptions options)
    {
        // A future in which it never happens sorts after every date.
        var sorted = paths.Select(d => d?.DayNumber ?? int.MaxValue).Order().ToList();
        DateOnly? At(int percentile) => sorted[Index(sorted.Count, percentile)] is var n && n == int.MaxValue ? null : DateOnly.FromDayNumber(n);
        var median = At(50);
        return new DateForecast(median is null ? ForecastStatus.Never : ForecastStatus.Projected, median, At(options.LowPercentile), At(options.HighPercentile));
    }

    /// <summary>The day a running total first reached the budget and stayed there, or null when it is below the budget now.</summary>
    private static DateOnly? ReachedOn(SortedDictionary<DateOnly, (long Issued, long Returned, long Spent)> days, long budget,
        Func<(long Issued, long Returned, long Spent), long> of, long now)
    {
        if (now < budget)
        {
            return null;
        }
        var total = (Issued: 0L, Returned: 0L, Spent: 0L);
        DateOnly? since = null;
        foreach (var (day, facts) in days)
        {
            total = (total.Issued + facts.Issued, total.Returned + facts.Returned, total.Spent + facts.Spent);
            since = of(total) >= budget ? since ?? day : null;
        }
        return since;
    }

    private static int Index(int count, int percentile) => (int)Math.Round((count - 1) * percentile / 100.0, MidpointRounding.AwayFromZero);

    private static long Rate(double value) => value <= 0 ? 0 : (long)Math.Round(value, MidpointRounding.AwayFromZero);

    private static long Sum(long[] values)
    {
        var total = 0L;
        foreach (var v in values)
        {
            total = checked(total + v);
        }
        return total;
    }
}
