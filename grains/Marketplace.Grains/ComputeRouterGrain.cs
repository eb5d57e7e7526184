using Marketplace.Domain;
using Marketplace.Domain.Rules;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace Marketplace.Grains;

/// <summary>
/// Routes a compute bid to the market that offers its PFLOPS-hours cheapest. Holds no state: the markets stay the single
/// writers of their pools and fills, and the router only asks them for quotes and places one ordinary IOC bid at a time.
/// </summary>
[StatelessWorker]
[Reentrant]
public sealed class ComputeRouterGrain(IOptions<MarketLimits> limits) : Grain, IComputeRouterGrain
{
    private readonly MarketLimits _limits = limits.Value;

    public async Task<IReadOnlyList<ComputeQuote>> Quote(string tenantId, ComputeOrder order)
    {
        var quotes = await QuoteAll(tenantId, order, Candidates(order));
        return quotes.Select(q => q.Quote).ToList();
    }

    public async Task<BidView> PlaceBid(string tenantId, string idempotencyKey, ComputeOrder order, string? computeBidId = null)
    {
        var candidates = Candidates(order);
        if (await Placed(tenantId, idempotencyKey, order, candidates) is { } placed)
        {
            return placed;
        }
        var quotes = await QuoteAll(tenantId, order, candidates);
        var offers = quotes.Where(q => q.Quote.Quote.Available).ToList();
        if (offers.Count == 0)
        {
            throw DomainException.Rule("no-compute-offer", "no market offers this compute now: "
                + string.Join("; ", quotes.Select(q => $"{q.Quote.GpuModel}: {q.Quote.Quote.Reason}")));
        }
        BidView? last = null;
        foreach (var (sizing, _) in offers)
        {
            // The quote was a moment ago; the market decides again and may refuse (its capacity went): try the next.
            var bid = sizing.Accelerator.Id;
            var derived = order.For(sizing);
            var submission = new BidSubmission(Ids.ComputeBid(tenantId, idempotencyKey, bid), tenantId, derived,
                Ids.ContentHash(StateJson.Serialize(derived)), computeBidId);
            last = await GrainFactory.GetGrain<IMarketGrain>(bid).PlaceBid(submission);
            if (last.State is BidState.Filled or BidState.PartiallyFilled)
            {
                return last;
            }
        }
        return last!;
    }

    private IReadOnlyList<ComputeSizing> Candidates(ComputeOrder order)
    {
        var candidates = ComputeRules.Candidates(order.PflopsHours, order.MinMemoryGb, order.DurationHours, order.MaxFenPerPflopsHour,
            order.Vendors, order.GpuModels, _limits);
        return candidates.Count > 0 ? candidates : throw DomainException.Rule("no-compute-model",
            "no catalogue model with a published TFLOPS figure meets the memory, vendor, model, gang size and price limits of this bid");
    }

    /// <summary>
    /// The bid an earlier request with this key placed, if any: the filled one, else the last refused. The same key with a
    /// different compute bid is refused, as for a model bid.
    /// </summary>
    private async Task<BidView?> Placed(string tenantId, string idempotencyKey, ComputeOrder order, IReadOnlyList<ComputeSizing> candidates)
    {
        var earlier = await Task.WhenAll(candidates.Select(async s =>
            (Sizing: s, Bid: await GrainFactory.GetGrain<IBidGrain>(Ids.ComputeBid(tenantId, idempotencyKey, s.Accelerator.Id)).Get())));
        var found = earlier.Where(e => e.Bid is not null).ToList();
        if (found.Any(e => StateJson.Serialize(e.Bid!.Order) != StateJson.Serialize(order.For(e.Sizing))))
        {
            throw DomainException.Rule("idempotency-key-reused", "this idempotency key was already used for a different bid");
        }
        return found.Select(e => e.Bid!).OrderByDescending(b => b.State is BidState.Filled or BidState.PartiallyFilled).ThenByDescending(b => b.CreatedAt)
            .FirstOrDefault();
    }

    /// <summary>Every candidate's quote, the available ones ranked per PFLOPS-hour first, then the rest in catalogue order.</summary>
    private async Task<IReadOnlyList<(ComputeSizing Sizing, ComputeQuote Quote)>> QuoteAll(string tenantId, ComputeOrder order,
        IReadOnlyList<ComputeSizing> candidates)
    {
        var quotes = await Task.WhenAll(candidates.Select(async s =>
            (Sizing: s, Quote: await GrainFactory.GetGrain<IMarketGrain>(s.Accelerator.Id).Quote(tenantId, order.For(s)))));
        var available = quotes.Where(q => q.Quote.Available).ToDictionary(q => q.Sizing.Accelerator.Id, StringComparer.Ordinal);
        var ranked = ComputeRules.Rank(available.Values.Select(q =>
            new ComputeOffer(q.Sizing.Accelerator.Id, q.Sizing.Accelerator.DenseFp16Tflops!.Value, q.Quote.FenPerGpuHour!.Value, q.Quote.StartsAt!.Value,
                q.Sizing.CataloguePosition)));
        return ranked.Select(o => available[o.GpuModel]).Concat(quotes.Where(q => !q.Quote.Available))
            .Select(q => (q.Sizing, View(q.Sizing, order, q.Quote))).ToList();
    }

    private static ComputeQuote View(ComputeSizing sizing, ComputeOrder order, Quote quote)
    {
        var tflops = sizing.Accelerator.DenseFp16Tflops!.Value;
        return new ComputeQuote(sizing.Accelerator.Id, sizing.Accelerator.Vendor, tflops, sizing.Accelerators, order.DurationHours,
            sizing.MaxFenPerGpuHour, quote.FenPerGpuHour is { } fen ? ComputeRules.FenPerPflopsHour(fen, tflops) : null, quote);
    }
}
