namespace Marketplace.Matching;

/// <summary>A bid waiting for capacity. <see cref="Sequence"/> is its place in time among bids at the same price.</summary>
public sealed record RestingBid(string BidId, long MaxFenPerGpuHour, int Gpus, long Sequence, string DemandProvince);

/// <summary>Resting bids in price-time priority: highest limit first, then first come.</summary>
public sealed class RestingBook
{
    private static readonly Comparer<RestingBid> Priority = Comparer<RestingBid>.Create((a, b) =>
    {
        var byPrice = b.MaxFenPerGpuHour.CompareTo(a.MaxFenPerGpuHour);
        if (byPrice != 0)
        {
            return byPrice;
        }
        var byTime = a.Sequence.CompareTo(b.Sequence);
        return byTime != 0 ? byTime : string.CompareOrdinal(a.BidId, b.BidId);
    });

    private readonly SortedSet<RestingBid> _bids = new(Priority);
    private readonly Dictionary<string, RestingBid> _byId = new(StringComparer.Ordinal);

    public int Count => _bids.Count;

    public bool Contains(string bidId) => _byId.ContainsKey(bidId);

    public RestingBid? Find(string bidId) => _byId.GetValueOrDefault(bidId);

    public bool Add(RestingBid bid)
    {
        if (!_byId.TryAdd(bid.BidId, bid))
        {
            return false;
        }
        _bids.Add(bid);
        return true;
    }

    public bool Remove(string bidId)
    {
        if (!_byId.Remove(bidId, out var bid))
        {
            return false;
        }
        _bids.Remove(bid);
        return true;
    }

    /// <summary>The resting bids in priority order (a copy, so the book may change while it is walked).</summary>
    public IReadOnlyList<RestingBid> InPriorityOrder() => [.. _bids];

    /// <summary>Resting demand aggregated by price level, highest first, without identities.</summary>
    public IReadOnlyList<(long FenPerGpuHour, int Bids, int Gpus)> Levels() =>
        _bids.GroupBy(b => b.MaxFenPerGpuHour)
            .Select(g => (g.Key, g.Count(), g.Sum(b => b.Gpus)))
            .ToList();

    /// <summary>Resting demand by the province it wants.</summary>
    public IReadOnlyList<(string Province, int Bids, int Gpus)> ByProvince() =>
        _bids.GroupBy(b => b.DemandProvince)
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => (g.Key, g.Count(), g.Sum(b => b.Gpus)))
            .ToList();
}
