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

/// <summary>
/// One per web node (keyed by the node's id): the silos' notifiers deliver batches into it and the web node takes
/// them with a long poll. Every hop is a call into the cluster, which reaches any grain on any silo; a call from a
/// silo out to a client reaches it only through a gateway that client is connected to.
/// </summary>
[Alias("push-inbox")]
public interface IPushInboxGrain : IGrainWithGuidKey
{
    [Alias("deliver")] Task Deliver(IReadOnlyList<MarketUpdate> updates);

    /// <summary>What has arrived since the last take; waits up to <paramref name="wait"/> for something to arrive.</summary>
    [Alias("take")] Task<IReadOnlyList<MarketUpdate>> Take(TimeSpan wait);
}
