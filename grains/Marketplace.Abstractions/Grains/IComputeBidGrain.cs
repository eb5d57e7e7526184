namespace Marketplace.Grains;

/// <summary>
/// A good-till-cancelled compute bid (DESIGN rule 9; key: its bid id). It owns the resting bid, persisted: no market holds
/// it. When capacity may have appeared it places one immediate-or-cancel bid through the router, in the market that
/// offers the compute cheapest, and stops at the first fill. See <c>ComputeBidGrain</c> for why it fills at most once.
/// </summary>
[Alias("compute-bid")]
public interface IComputeBidGrain : IGrainWithStringKey
{
    /// <summary>Opens the bid once (the same order again is the same bid) and tries it at once; it rests if it cannot fill.</summary>
    [Alias("place")] Task<BidView> Place(string tenantId, ComputeOrder order);

    /// <summary>The bid, or null if it was never placed.</summary>
    [Alias("get")] Task<BidView?> Get();

    /// <summary>Cancels the resting bid; a filled or ended bid is answered as it is.</summary>
    [Alias("cancel")] Task<BidView> Cancel(string tenantId);

    /// <summary>Capacity of one of its models may have appeared, or time passed: tries again; false once the bid no longer rests.</summary>
    [Alias("nudge")] Task<bool> Nudge();
}

/// <summary>
/// The resting compute bids and their candidate models (key 0), persisted, so that a market whose capacity may have grown
/// reaches the compute bids that could use it, after a restart too.
/// </summary>
[Alias("compute-book")]
public interface IComputeBookGrain : IGrainWithIntegerKey
{
    /// <summary>A compute bid rests and may fill in any of <paramref name="gpuModels"/>.</summary>
    [Alias("add"), Orleans.Concurrency.OneWay] Task Add(string bidId, IReadOnlyList<string> gpuModels);

    /// <summary>A market's capacity may have grown, or time passed: the resting compute bids that may use it try again.</summary>
    [Alias("capacity"), Orleans.Concurrency.OneWay] Task CapacityMayHaveGrown(string gpuModel);
}
