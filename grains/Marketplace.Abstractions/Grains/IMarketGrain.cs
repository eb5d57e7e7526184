namespace Marketplace.Grains;

/// <summary>
/// The market for one GPU model (key: model, e.g. <c>H800-80G</c>). Matches bids against pools, keeps resting bids
/// in price-time priority and drives reservations. Holds no state of its own: it rebuilds from pools and bids.
/// </summary>
[Alias("market")]
public interface IMarketGrain : IGrainWithStringKey
{
    [Alias("place")] Task<BidView> PlaceBid(BidSubmission submission);

    [Alias("quote")] Task<Quote> Quote(string tenantId, BidOrder order);

    [Alias("cancel-bid")] Task<BidView> CancelBid(string bidId, string tenantId);

    [Alias("cancel-reservation")] Task<ReservationView> CancelReservation(string reservationId, string tenantId);

    [Alias("book")] Task<OrderBook> GetBook();

    [Alias("list-pool")] Task<PoolView> ListPool(PoolSpec spec);

    [Alias("change-pool")] Task<PoolView> ChangePool(string poolId, PoolChange change);

    [Alias("outage")] Task<OutageReport> DeclareOutage(string poolId, Outage outage);

    /// <summary>
    /// Stops selling the pool (<paramref name="because"/>: why) or sells it again (null): its provider's company stopped or
    /// started being verified. Returns once the market's book shows it.
    /// </summary>
    [Alias("suspend-pool")] Task SuspendPool(string poolId, string? because);

    /// <summary>
    /// The pool's provider's reliability score changed (null: new): the market matches bids that require a minimum with
    /// it from now on. Telling a pool what it is already is a no-op. Returns once the market's view shows it.
    /// </summary>
    [Alias("pool-reliability")] Task PoolReliabilityChanged(string poolId, int? scoreBasisPoints);

    /// <summary>A pool's free capacity grew on its own (a hold expired); refresh and re-match.</summary>
    [Alias("capacity-changed"), Orleans.Concurrency.OneWay] Task CapacityChanged(string poolId);

    /// <summary>
    /// A programme's approval notices changed: resting voucher bids read their vouchers' terms again and are re-matched;
    /// returns when a pass of matching that saw the change has finished.
    /// </summary>
    [Alias("approvals-changed")] Task ApprovalsChanged(string programId);

    /// <summary>The regulator changed the routing rule: the market decides by it from now on and re-matches resting bids.</summary>
    [Alias("routing-changed")] Task RoutingChanged(RoutingPolicy policy);

    /// <summary>Matches resting bids against capacity that appeared, in price-time priority.</summary>
    [Alias("rematch"), Orleans.Concurrency.OneWay] Task RematchResting();

    /// <summary>Expires resting bids past their time, resumes bids left pending by a crash and refreshes pools.</summary>
    [Alias("sweep")] Task Sweep();
}
