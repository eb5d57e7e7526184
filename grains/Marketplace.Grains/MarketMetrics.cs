using System.Diagnostics.Metrics;

namespace Marketplace.Grains;

/// <summary>The market's own metrics (meter "Marketplace"), exported with Orleans' by the silos' /metrics endpoint.</summary>
public static class MarketMetrics
{
    public const string MeterName = "Marketplace";

    private static readonly Meter Meter = new(MeterName);

    public static readonly Counter<long> BidsAccepted = Meter.CreateCounter<long>("marketplace.bids.accepted", description: "Bids accepted by a market");
    public static readonly Counter<long> Fills = Meter.CreateCounter<long>("marketplace.fills", description: "Reservations confirmed for bids");
    public static readonly Counter<long> BidsEnded = Meter.CreateCounter<long>("marketplace.bids.ended",
        description: "Bids that ended without (more) fills, by state and reason");
    public static readonly Counter<long> SagasFailed = Meter.CreateCounter<long>("marketplace.sagas.failed", description: "Reservation sagas compensated, by reason");
    public static readonly Histogram<double> SagaDuration = Meter.CreateHistogram<double>("marketplace.saga.duration", "ms",
        "Time from opening a reservation to its confirmation or compensation");
    public static readonly Counter<long> Settlements = Meter.CreateCounter<long>("marketplace.settlements", description: "Reservations settled");
}
