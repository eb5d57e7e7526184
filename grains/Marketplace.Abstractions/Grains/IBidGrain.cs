namespace Marketplace.Grains;

/// <summary>One bid (key: bid id). Written only by its market; read by the web tier.</summary>
[Alias("bid")]
public interface IBidGrain : IGrainWithStringKey
{
    [Alias("get")] Task<BidView?> Get();

    /// <summary>Records the bid as accepted. Returns the existing bid if it was opened before with the same order.</summary>
    [Alias("open")] Task<(BidView Bid, bool Created)> Open(BidSubmission submission);

    [Alias("resting")] Task<BidView> MarkResting(string? reasonCode, string? reason);

    [Alias("filled")] Task<BidView> AddFill(Fill fill);

    /// <summary>Ends the bid: Rejected, Cancelled or Expired, with the reason.</summary>
    [Alias("end")] Task<BidView> End(BidState state, string reasonCode, string reason);

    /// <summary>A fill was interrupted: replaces it with the re-matched fill, or records what was lost.</summary>
    [Alias("interrupted")] Task<BidView> FillInterrupted(string reservationId, Fill? usedPart, Fill? replacement, string reasonCode, string reason);
}
