using Marketplace.Matching;

namespace Marketplace.Grains;

/// <summary>
/// A market's resting bids: each one's order (what the market knows of it) and its place in the price-time book, and
/// the unfilled demand they stand for on the map. An order being matched leaves the book but stays the market's until
/// its match ends; one that left meanwhile (cancelled, expired) is not put back.
/// </summary>
internal sealed class RestingOrders(IGrainFactory grains)
{
    private readonly RestingBook _book = new();
    private readonly Dictionary<string, OpenOrder> _orders = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _tenantProvinces = new(StringComparer.Ordinal);
    private long _sequence;
    private bool _demandChanged = true;
    private DateTimeOffset _demandReportedAt;

    /// <summary>Bids in the book now (not those being matched).</summary>
    public int Count => _book.Count;

    /// <summary>Every order the market holds, those being matched included.</summary>
    public IEnumerable<OpenOrder> Orders => _orders.Values;

    public bool Holds(string bidId) => _orders.ContainsKey(bidId);

    public bool InBook(string bidId) => _book.Contains(bidId);

    public int CountOf(string tenantId) => _orders.Values.Count(o => o.TenantId == tenantId);

    /// <summary>The orders in the book, best price first and then oldest.</summary>
    public IReadOnlyList<OpenOrder> InPriorityOrder() =>
        _book.InPriorityOrder().Select(r => _orders.GetValueOrDefault(r.BidId)).OfType<OpenOrder>().ToList();

    public IReadOnlyList<BidLevel> Levels() => _book.Levels().Select(l => new BidLevel(l.FenPerGpuHour, l.Bids, l.Gpus)).ToList();

    /// <summary>Learns where the given tenants are, for the demand of their bids that name no province (on activation, at once).</summary>
    public Task LearnProvincesAsync(IEnumerable<string> tenantIds) =>
        Task.WhenAll(tenantIds.Distinct().Select(async tenantId => _tenantProvinces[tenantId] = await ProvinceOfAsync(tenantId)));

    /// <summary>Puts a new resting order in the book, behind every order already there at its price.</summary>
    public async Task AddAsync(OpenOrder order)
    {
        if (order.Order.AllowedProvinces is not { Count: > 0 } && !_tenantProvinces.ContainsKey(order.TenantId))
        {
            _tenantProvinces[order.TenantId] = await ProvinceOfAsync(order.TenantId);
        }
        order.Sequence = ++_sequence;
        _orders[order.BidId] = order;
        _book.Add(Entry(order));
        _demandChanged = true;
    }

    /// <summary>The order leaves the market (cancelled, expired, ended).</summary>
    public void Remove(string bidId)
    {
        _book.Remove(bidId);
        _orders.Remove(bidId);
        _demandChanged = true;
    }

    /// <summary>The order leaves the book to be matched; it stays the market's until <see cref="Forget"/> or <see cref="PutBack"/>.</summary>
    public void TakeOut(string bidId)
    {
        _book.Remove(bidId);
        _demandChanged = true;
    }

    /// <summary>A match ended the order (filled, refused, handed to recovery).</summary>
    public void Forget(string bidId) => _orders.Remove(bidId);

    /// <summary>A match left the order unfilled: back in its old place, unless it left the market meanwhile.</summary>
    public void PutBack(OpenOrder order)
    {
        if (_orders.TryGetValue(order.BidId, out var current) && ReferenceEquals(current, order))
        {
            _book.Add(Entry(order));
            _demandChanged = true;
        }
    }

    /// <summary>Tells the utilization grain the unfilled demand per province when it changed, and every 10 s regardless.</summary>
    public void ReportDemand(string model, DateTimeOffset now)
    {
        if (_demandChanged || now - _demandReportedAt >= TimeSpan.FromSeconds(10) || now < _demandReportedAt)
        {
            _demandChanged = false;
            _demandReportedAt = now;
            var demand = _book.ByProvince().Select(d => new RestingDemand(d.Province, d.Bids, d.Gpus)).ToList();
            grains.GetGrain<IUtilizationGrain>(0).ReportRestingDemand(model, demand).Ignore();
        }
    }

    private RestingBid Entry(OpenOrder order) =>
        new(order.BidId, order.Order.MaxFenPerGpuHour, order.Order.GpuCount, order.Sequence, DemandProvince(order));

    /// <summary>Where unfilled demand shows on the map: the province the bid asks for, else the tenant's own.</summary>
    private string DemandProvince(OpenOrder order) =>
        order.Order.AllowedProvinces is { Count: > 0 } provinces ? provinces[0] : _tenantProvinces.GetValueOrDefault(order.TenantId, "Unknown");

    private async Task<string> ProvinceOfAsync(string tenantId) =>
        (await grains.GetGrain<ITenantGrain>(tenantId).Get())?.Registration.Province ?? "Unknown";
}
