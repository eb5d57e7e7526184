namespace Marketplace.Matching;

/// <summary>The pools of one market kept in ask order (then pool id), as <see cref="MatchingEngine"/> requires.</summary>
public sealed class AskLadder
{
    private static readonly Comparer<PoolBook> ByAsk = Comparer<PoolBook>.Create((a, b) =>
    {
        var byAsk = a.AskFenPerGpuHour.CompareTo(b.AskFenPerGpuHour);
        return byAsk != 0 ? byAsk : string.CompareOrdinal(a.PoolId, b.PoolId);
    });

    private readonly List<PoolBook> _pools = [];
    private readonly Dictionary<string, PoolBook> _byId = new(StringComparer.Ordinal);

    public IReadOnlyList<PoolBook> Pools => _pools;

    public int Count => _pools.Count;

    public PoolBook? Find(string poolId) => _byId.GetValueOrDefault(poolId);

    /// <summary>Adds the pool, or replaces the book of a pool already present.</summary>
    public void Put(PoolBook book)
    {
        if (_byId.Remove(book.PoolId, out var old))
        {
            _pools.RemoveAt(_pools.BinarySearch(old, ByAsk));
        }
        var index = _pools.BinarySearch(book, ByAsk);
        _pools.Insert(index < 0 ? ~index : index, book);
        _byId[book.PoolId] = book;
    }
}
