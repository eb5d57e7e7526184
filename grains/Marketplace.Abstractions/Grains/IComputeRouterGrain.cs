namespace Marketplace.Grains;

/// <summary>
/// Routes compute bids (DESIGN rule 9) to the markets, each the single writer of its model: asks every qualifying model's
/// market for a quote, ranks them per PFLOPS-hour and places an ordinary bid in the best, then the next if that refuses.
/// A stateless worker: it holds nothing, so any silo may run any number of them.
/// </summary>
[Alias("compute-router")]
public interface IComputeRouterGrain : IGrainWithIntegerKey
{
    /// <summary>Every qualifying model's quote, cheapest per PFLOPS-hour first (unavailable ones last).</summary>
    [Alias("quote")] Task<IReadOnlyList<ComputeQuote>> Quote(string tenantId, ComputeOrder order);

    /// <summary>
    /// Places the compute bid once per idempotency key; returns the bid of the market it filled in. A try of a resting compute
    /// bid names that bid (<paramref name="computeBidId"/>), and every bid it places says so.
    /// </summary>
    [Alias("place")] Task<BidView> PlaceBid(string tenantId, string idempotencyKey, ComputeOrder order, string? computeBidId = null);
}
