using System.Diagnostics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace Marketplace.Grains;

/// <summary>
/// Failure testing only: with <c>Faults:CrashSagaAfter</c> set to a step (a market's fill: <c>fill-decided</c>,
/// <c>fill-committed</c>; a reservation's saga: <c>hold-capacity</c>, <c>hold-funds</c> or <c>confirm</c>), the silo kills itself, without any cleanup, the first time a saga completes that step. The chaos
/// tests use it to prove a saga cut at any step ends confirmed or fully compensated. Never set in production.
/// </summary>
public sealed class SagaFaults(IConfiguration configuration, ILogger<SagaFaults> logger)
{
    public const string HoldCapacity = "hold-capacity";
    public const string HoldFunds = "hold-funds";
    public const string Confirm = "confirm";
    /// <summary>A market decided a fill and built its statement, which is not yet committed.</summary>
    public const string FillDecided = "fill-decided";
    /// <summary>A market's fill committed, before anything was answered or pushed.</summary>
    public const string FillCommitted = "fill-committed";

    private readonly string? _crashAfter = configuration["Faults:CrashSagaAfter"];

    public void After(string step, string reservationId)
    {
        if (_crashAfter == step)
        {
            logger.LogCritical("Failure test: killing this silo after saga step {Step} of reservation {ReservationId}", step, reservationId);
            // The logger writes from a queue that the kill cuts short: say it on standard error too, written through.
            Console.Error.WriteLine($"Failure test: killing this silo after saga step {step} of reservation {reservationId}");
            Console.Error.Flush();
            Process.GetCurrentProcess().Kill();
        }
    }
}
