using Marketplace.Matching;

namespace Marketplace.Grains;

/// <summary>
/// What the market would do with a bid now, without doing it: the pool, start and price it would decide on, what the
/// voucher would pay of the cost, and the cash the tenant would need (rules 4–6, as <see cref="MarketMatcher"/> decides).
/// </summary>
internal sealed class MarketQuotes(MarketMatcher matcher, MarketLimits limits, IGrainFactory grains)
{
    public async Task<Quote> QuoteAsync(string tenantId, BidOrder order)
    {
        await matcher.RefreshLapsedHoldsAsync();
        var open = new OpenOrder("quote", tenantId, order, 1);
        if (order.VoucherId is { } id)
        {
            open.Terms = await grains.GetGrain<IVoucherGrain>(id).FundingTerms(tenantId);
        }
        var decision = matcher.Decide(open);
        if (!decision.Matched)
        {
            var (code, reason) = open.Terms is { Usable: false } terms ? (terms.RefusalCode!, terms.RefusalReason!) : matcher.Describe(open, decision);
            return new Quote(false, null, null, null, null, null, null, 0, 0, 0, code, reason);
        }
        var pool = matcher.View.Spec(decision.Pool!.PoolId);
        var reliability = decision.Pool!.ReliabilityBasisPoints;
        var startsAt = Hours.ToTime(decision.StartHour);
        var endsAt = Hours.ToTime(decision.StartHour + order.DurationHours);
        var cost = Money.Cost(decision.FenPerGpuHour, order.GpuCount, order.DurationHours);
        long voucherShare = 0;
        string? note = null;
        if (order.VoucherId is { } voucherId)
        {
            var preview = await grains.GetGrain<IVoucherGrain>(voucherId).PreviewFunding(
                new FundingRequest("quote", tenantId, pool.ProviderId, pool.ProviderCreditCode, startsAt, endsAt, cost));
            voucherShare = preview.AmountFen;
            note = preview.Accepted ? null : preview.RefusalReason;
        }
        var cash = await grains.GetGrain<ICashGrain>(tenantId).Get(0);
        return new Quote(true, pool.PoolId, pool.ProviderId, pool.Site.Province, startsAt, endsAt, decision.FenPerGpuHour, cost,
            voucherShare, cost - voucherShare, note is null ? null : "voucher-not-usable", note,
            Money.CashHold(cost, voucherShare, limits.CancellationChargeBasisPoints), cash.AvailableFen, ProviderReliabilityBasisPoints: reliability);
    }
}
