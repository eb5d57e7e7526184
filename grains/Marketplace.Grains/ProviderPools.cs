namespace Marketplace.Grains;

/// <summary>
/// What a provider tells its pools, through their markets: whether they sell (its company verified or not) and its
/// reliability score. Telling a pool what it stands on already is a no-op at its market, so each call is safe to repeat.
/// The provider grain decides what to tell and when; this class makes the calls, one pool at a time in id order.
/// </summary>
/// <param name="pools">The provider's pools and the GPU model (and so the market) of each.</param>
internal sealed class ProviderPools(IGrainFactory grains, IReadOnlyDictionary<string, string> pools)
{
    private IEnumerable<KeyValuePair<string, string>> InOrder => pools.OrderBy(p => p.Key, StringComparer.Ordinal);

    /// <summary>Each pool stops selling anything new (<paramref name="because"/>: why) or sells again (null).</summary>
    public async Task SuspendAsync(string? because)
    {
        foreach (var (poolId, model) in InOrder)
        {
            await grains.GetGrain<IMarketGrain>(model).SuspendPool(poolId, because);
        }
    }

    /// <summary>The pools' markets filter them by <paramref name="score"/> from now on (only <paramref name="onlyPoolId"/>'s when given).</summary>
    public async Task TellReliabilityAsync(int? score, string? onlyPoolId = null)
    {
        foreach (var (poolId, model) in InOrder)
        {
            if (onlyPoolId is null || poolId == onlyPoolId)
            {
                await grains.GetGrain<IMarketGrain>(model).PoolReliabilityChanged(poolId, score);
            }
        }
    }

    /// <summary>
    /// Brings every pool to <paramref name="because"/> and <paramref name="score"/> after what was told last may have been
    /// cut short: one call per pool reads what it stands on, and its market is told only what differs.
    /// </summary>
    public async Task CatchUpAsync(string? because, int? score)
    {
        foreach (var (poolId, model) in InOrder)
        {
            var standing = await grains.GetGrain<IGpuPoolGrain>(poolId).Standing();
            if (standing.SuspendedBecause != because)
            {
                await grains.GetGrain<IMarketGrain>(model).SuspendPool(poolId, because);
            }
            if (standing.ReliabilityBasisPoints != score)
            {
                await grains.GetGrain<IMarketGrain>(model).PoolReliabilityChanged(poolId, score);
            }
        }
    }
}
