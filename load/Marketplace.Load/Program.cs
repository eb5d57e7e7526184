// The load and demo generator: drives the marketplace only through its public HTTP API and SignalR hub.
//   demo  --url U [--rate 3] [--tenants 16]                                       gentle activity until Ctrl-C
//   bench --url U (--rate R | --concurrency C) [--duration 30] [--warmup 5] [--tenants 32] [--max-in-flight 512]
//         [--check-db CONN] [--out DIR] [--label TEXT] [--watch name=pid ...]      measures and writes load/results/
//   signin --url U [--count 400] [--concurrency 8] [--email E --password P]         what signing in costs (demo users by default)
//   check --db CONN                                                               the invariant checker over a database
//   backtest [--seed 1] [--programmes 20] [--out FILE]                            the programme forecast, day 60 against day 120
// demo and bench sign in with client credentials: MARKETPLACE_CLIENT_ID and MARKETPLACE_CLIENT_SECRET name an admin API client.
using Marketplace.Load;

// Not disposed: SIGTERM may arrive while the process is already returning from Main.
var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.Cancel();
};
AppDomain.CurrentDomain.ProcessExit += (_, _) => stop.Cancel();

Options options;
try
{
    options = Options.Parse(args);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine($"error: {e.Message}\n{Commands.Usage}");
    return 2;
}

try
{
    return options.Verb switch
    {
        "demo" => await Commands.DemoAsync(options, stop.Token),
        "bench" => await Commands.BenchAsync(options, stop.Token),
        "signin" => await Commands.SignInAsync(options, stop.Token),
        "check" => await Commands.CheckAsync(options, stop.Token),
        "backtest" => Commands.Backtest(options),
        _ => Commands.Unknown(options.Verb),
    };
}
catch (ArgumentException e)
{
    Console.Error.WriteLine($"error: {e.Message}\n{Commands.Usage}");
    return 2;
}
catch (OperationCanceledException) when (stop.IsCancellationRequested)
{
    return 130;
}
