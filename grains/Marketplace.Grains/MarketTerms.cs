namespace Marketplace.Grains;

/// <summary>
/// What the vouchers of a market's bids can pay for, as the market last read them (each order keeps its own), and when
/// they must be read again: after every approval notice, and now and then because vouchers change on their own too
/// (spent, expired).
/// </summary>
internal sealed class MarketTerms(IGrainFactory grains, TimeProvider clock)
{
    /// <summary>How often a sweep makes resting bids read their vouchers' terms again, besides every approval notice.</summary>
    private static readonly TimeSpan RefreshInterval = TimeSpan.FromMinutes(1);

    /// <summary>Bumped when vouchers' terms may have changed (a notice, a sweep): terms read before it are read again.</summary>
    private long _epoch;
    private DateTimeOffset _forgottenAt;

    /// <summary>Reads what the order's voucher can pay for, unless the market knows it already.</summary>
    public async Task<FundingTerms?> ReadAsync(OpenOrder order)
    {
        if (order.Order.VoucherId is { } voucherId && (order.Terms is null || order.TermsEpoch != _epoch))
        {
            var epoch = _epoch;
            order.Terms = await grains.GetGrain<IVoucherGrain>(voucherId).FundingTerms(order.TenantId);
            order.TermsEpoch = epoch;
        }
        return order.Terms;
    }

    /// <summary>Whether the market knows the order's voucher terms as of now (a cash bid needs none).</summary>
    public bool Current(OpenOrder order) => order.Order.VoucherId is null || (order.Terms is not null && order.TermsEpoch == _epoch);

    /// <summary>Whether it is time to read every voucher's terms again.</summary>
    public bool DueForRefresh => clock.GetUtcNow() - _forgottenAt >= RefreshInterval;

    /// <summary>
    /// Every voucher's terms as the market knows them may be out of date: each order reads them again before it is next
    /// decided on (an order being matched right now too, when it is next decided on), and the resting ones try again
    /// pools they left out.
    /// </summary>
    public void Forget(IEnumerable<OpenOrder> resting)
    {
        _epoch++;
        _forgottenAt = clock.GetUtcNow();
        foreach (var order in resting.Where(o => o.Order.VoucherId is not null))
        {
            order.Excluded.Clear();
        }
    }
}
