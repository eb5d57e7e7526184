namespace Marketplace;

[GenerateSerializer]
public enum UpdateKind
{
    Bid,
    Reservation,
    Voucher,
    Pool,
}

/// <summary>
/// A change to one thing, addressed to its owner. <see cref="Version"/> is the thing's own version, so a client
/// that has applied a snapshot ignores any update it already saw and notices any it missed.
/// </summary>
[GenerateSerializer, Immutable, Alias("market-update")]
public sealed record MarketUpdate(
    [Id(0)] UpdateKind Kind,
    [Id(1)] string OwnerId,
    [Id(2)] string EntityId,
    [Id(3)] long Version,
    [Id(4)] DateTimeOffset At,
    [Id(5)] BidView? Bid = null,
    [Id(6)] ReservationView? Reservation = null,
    [Id(7)] VoucherView? Voucher = null,
    [Id(8)] PoolView? Pool = null);

/// <summary>Implemented by each web node; receives batches of updates to forward to SignalR groups.</summary>
public interface IMarketObserver : IGrainObserver
{
    Task OnUpdates(IReadOnlyList<MarketUpdate> updates);
}
