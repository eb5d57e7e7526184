namespace Marketplace.Grains;

/// <summary>Aggregates pool loads, resting demand and fills into the regulator's view (key 0).</summary>
[Alias("utilization")]
public interface IUtilizationGrain : IGrainWithIntegerKey
{
    [Alias("pool"), Orleans.Concurrency.OneWay] Task ReportPool(PoolLoad load);

    [Alias("resting"), Orleans.Concurrency.OneWay] Task ReportRestingDemand(string gpuModel, IReadOnlyList<RestingDemand> demand);

    [Alias("fill"), Orleans.Concurrency.OneWay] Task ReportFill(FillTick fill);

    /// <summary>The current view, or null when it has not changed since <paramref name="knownVersion"/>.</summary>
    [Alias("snapshot")] Task<UtilizationSnapshot?> GetSnapshot(long knownVersion);
}
