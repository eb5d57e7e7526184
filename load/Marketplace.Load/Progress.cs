using System.Globalization;
using Spectre.Console;

namespace Marketplace.Load;

/// <summary>
/// Live progress: a Spectre.Console table refreshed every second on a terminal, or a plain line every few seconds when
/// the output is a file or a CI log.
/// </summary>
public static class Progress
{
    public static bool Interactive => !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;

    /// <param name="live">A live table when the output is a terminal; the demo, which logs what it does, asks for plain lines.</param>
    public static async Task ShowAsync(string title, Tally tally, bool live, CancellationToken stop)
    {
        if (live && Interactive)
        {
            var table = new Table().Border(TableBorder.Rounded).Title(title).AddColumns("bids sent", "accepted", "fills", "resting", "rejected",
                "refused", "errors", "rate /s", "api p50 ms", "api p99 ms", "push p99 ms");
            table.AddRow(Row(tally, 0, new Percentiles(0, 0, 0, 0, 0), new Percentiles(0, 0, 0, 0, 0)));
            await AnsiConsole.Live(table).StartAsync(async context =>
            {
                await Loop(tally, TimeSpan.FromSeconds(1), stop, (rate, api, push) =>
                {
                    var cells = Row(tally, rate, api, push);
                    for (var i = 0; i < cells.Length; i++)
                    {
                        table.UpdateCell(0, i, cells[i]);
                    }
                    context.Refresh();
                });
            });
        }
        else
        {
            await Loop(tally, TimeSpan.FromSeconds(5), stop, (rate, api, push) =>
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"[{DateTimeOffset.UtcNow:HH:mm:ss}] {title}: sent {tally.Sent}, accepted {tally.Accepted}, fills {tally.PushFills}, refused {tally.Refused}, errors {tally.Errors}, rate {rate:F0}/s, api p50 {api.P50} ms p99 {api.P99} ms, push p99 {push.P99} ms")));
        }
    }

    private static async Task Loop(Tally tally, TimeSpan every, CancellationToken stop, Action<double, Percentiles, Percentiles> show)
    {
        var last = tally.Sent;
        var lastAt = DateTimeOffset.UtcNow;
        using var timer = new PeriodicTimer(every);
        try
        {
            while (await timer.WaitForNextTickAsync(stop))
            {
                var now = DateTimeOffset.UtcNow;
                var sent = tally.Sent;
                show((sent - last) / (now - lastAt).TotalSeconds, tally.Api.TakeRecent(), tally.Push.TakeRecent());
                (last, lastAt) = (sent, now);
            }
        }
        catch (OperationCanceledException)
        {
            // the run is over
        }
    }

    private static string[] Row(Tally tally, double rate, Percentiles api, Percentiles push) =>
    [
        N(tally.Sent), N(tally.Accepted), N(tally.PushFills), N(tally.InState(nameof(BidState.Resting))), N(tally.InState(nameof(BidState.Rejected))),
        N(tally.Refused), N(tally.Errors), rate.ToString("F0", CultureInfo.InvariantCulture), F(api.P50), F(api.P99), F(push.P99),
    ];

    private static string N(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    private static string F(double value) => value.ToString("F1", CultureInfo.InvariantCulture);
}
