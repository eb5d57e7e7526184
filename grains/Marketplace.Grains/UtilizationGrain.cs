using Marketplace.Domain.Rules;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Concurrency;

namespace Marketplace.Grains;

/// <summary>
/// The regulator's live view: the latest load of every pool, resting demand per market and the latest fills,
/// aggregated by province, site and GPU model only when someone asks and something changed.
/// </summary>
[Reentrant]
public sealed class UtilizationGrain([FromKeyedServices(Names.ClockKeys.Market)] TimeProvider clock) : Grain, IUtilizationGrain
{
    private const int RecentFillCount = 50;

    private readonly Dictionary<string, PoolLoad> _pools = new(StringComparer.Ordinal);
    private readonly Dictionary<string, IReadOnlyList<RestingDemand>> _demand = new(StringComparer.Ordinal);
    private readonly Queue<FillTick> _fills = new();
    private long _fillsTotal;
    private long _version = 1;
    private UtilizationSnapshot? _snapshot;

    public Task ReportPool(PoolLoad load)
    {
        _pools[load.PoolId] = load;
        _version++;
        return Task.CompletedTask;
    }

    public Task ReportRestingDemand(string gpuModel, IReadOnlyList<RestingDemand> demand)
    {
        _demand[gpuModel] = demand;
        _version++;
        return Task.CompletedTask;
    }

    public Task ReportFill(FillTick fill)
    {
        _fills.Enqueue(fill);
        while (_fills.Count > RecentFillCount)
        {
            _fills.Dequeue();
        }
        _fillsTotal++;
        _version++;
        return Task.CompletedTask;
    }

    public Task<UtilizationSnapshot?> GetSnapshot(long knownVersion)
    {
        if (knownVersion >= _version)
        {
            return Task.FromResult<UtilizationSnapshot?>(null);
        }
        if (_snapshot?.Version != _version)
        {
            _snapshot = Build();
        }
        return Task.FromResult<UtilizationSnapshot?>(_snapshot);
    }

    private UtilizationSnapshot Build()
    {
        static int Bps(long part, long whole) => whole <= 0 ? 0 : (int)(part * 10_000 / whole);

        var demand = _demand.Values.SelectMany(d => d).GroupBy(d => d.Province)
            .ToDictionary(g => g.Key, g => (Bids: g.Sum(d => d.Bids), Gpus: g.Sum(d => d.Gpus)), StringComparer.Ordinal);
        var provinces = _pools.Values.Select(p => p.Site.Province).Concat(demand.Keys).Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal)
            .Select(province =>
            {
                var pools = _pools.Values.Where(p => p.Site.Province == province).ToList();
                var (bids, gpus) = demand.GetValueOrDefault(province);
                var rated = pools.Where(p => ComputeRules.Tflops(p.GpuModel, 1) is not null).ToList();
                long Tflops(PoolLoad p, long gpus) => ComputeRules.Tflops(p.GpuModel, gpus)!.Value;
                return new ProvinceUtilization(province, pools.Sum(p => p.GpuCount), pools.Sum(p => p.BusyGpusNow),
                    Bps(pools.Sum(p => p.BookedGpuHours24h), pools.Sum(p => p.CapacityGpuHours24h)), bids, gpus)
                {
                    CapacityTflops = rated.Sum(p => Tflops(p, p.GpuCount)),
                    BusyTflopsNow = rated.Sum(p => Tflops(p, p.BusyGpusNow)),
                    ComputeUtilizationBasisPoints = Bps(rated.Sum(p => Tflops(p, p.BookedGpuHours24h)), rated.Sum(p => Tflops(p, p.CapacityGpuHours24h))),
                    GpusWithoutTflops = pools.Except(rated).Sum(p => p.GpuCount),
                };
            })
            .ToList();
        var sites = _pools.Values.GroupBy(p => (p.ProviderId, p.Site.SiteId))
            .Select(g =>
            {
                var site = g.First().Site;
                return new SiteUtilization(site.SiteId, g.Key.ProviderId, site.Name, site.Province, site.City, site.Latitude, site.Longitude,
                    site.GreenPowerPercent, g.Sum(p => p.GpuCount), Bps(g.Sum(p => p.BookedGpuHours24h), g.Sum(p => p.CapacityGpuHours24h)));
            })
            .OrderBy(s => s.ProviderId, StringComparer.Ordinal).ThenBy(s => s.SiteId, StringComparer.Ordinal)
            .ToList();
        var models = _pools.Values.GroupBy(p => p.GpuModel).OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => new ModelUtilization(g.Key, g.Sum(p => p.GpuCount), Bps(g.Sum(p => p.BookedGpuHours24h), g.Sum(p => p.CapacityGpuHours24h)),
                g.Min(p => p.AskFenPerGpuHour)))
            .ToList();
        return new UtilizationSnapshot(_version, clock.GetUtcNow(), provinces, sites, models, _fills.Reverse().ToList(), _fillsTotal);
    }
}
