using Marketplace.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Marketplace.Grains;

/// <summary>One bid. Changed only by its market, in the order the market decides; read by the web tier.</summary>
public sealed class BidGrain(BidStore store, [FromKeyedServices(Names.ClockKeys.Market)] TimeProvider clock, ILogger<BidGrain> logger) : Grain, IBidGrain
{
    private PersistedRow<BidRecord>? _row;

    private string Id => this.GetPrimaryKeyString();

    private PersistedRow<BidRecord> Row => _row ??= new PersistedRow<BidRecord>(store, Id, "bid-changed");

    private BidRecord? Current => Row.State;

    /// <summary>Always what is stored: the market writes a bid's fills itself, so a copy in memory may be behind.</summary>
    private Task LoadAsync() => Row.LoadAsync(again: true);

    public async Task<BidView?> Get()
    {
        await LoadAsync();
        return Current is null ? null : View();
    }

    public async Task<(BidView Bid, bool Created)> Open(BidSubmission submission)
    {
        if (Current is null)
        {
            // Most bids are new: insert without reading first. The id is taken only when this repeats an earlier request.
            var now = clock.GetUtcNow();
            if (await Row.TryCreateAsync(new BidRecord(submission.TenantId, submission.Order, submission.OrderHash, BidState.Pending, null, null, [], now, now)))
            {
                Publish();
                return (View(), true);
            }
        }
        return Current!.OrderHash == submission.OrderHash
            ? (View(), false)
            : throw new DomainException(ErrorKind.Rule, "idempotency-key-reused", "this idempotency key was already used for a different bid");
    }

    public Task<BidView> MarkResting(string? reasonCode, string? reason) =>
        Change(bid => Open(bid) with { State = BidState.Resting, ReasonCode = reasonCode, Reason = reason });

    public Task<BidView> AddFill(Fill fill) => Change(bid => bid.Fills.Any(f => f.ReservationId == fill.ReservationId)
        ? bid
        : Open(bid) with { Fills = [.. bid.Fills, fill], State = BidState.Filled, ReasonCode = null, Reason = null });

    public async Task<BidView> End(BidState state, string reasonCode, string reason)
    {
        var view = await Change(bid => bid.State == state ? bid : Open(bid) with { State = state, ReasonCode = reasonCode, Reason = reason });
        logger.LogInformation("Bid {BidId} {State}: {Code}", Id, state, reasonCode);
        return view;
    }

    public Task<BidView> FillInterrupted(string reservationId, Fill? usedPart, Fill? replacement, string reasonCode, string reason) => Change(bid =>
    {
        if (bid.Fills.All(f => f.ReservationId != reservationId))
        {
            throw DomainException.Rule("unknown-fill", $"reservation {reservationId} is not a fill of this bid");
        }
        var fills = bid.Fills
            .Select(f => f.ReservationId == reservationId ? usedPart : f)
            .Where(f => f is not null).Select(f => f!)
            .ToList();
        if (replacement is not null && fills.All(f => f.ReservationId != replacement.ReservationId))
        {
            fills.Add(replacement);
        }
        var state = replacement is not null ? BidState.Filled : fills.Count > 0 ? BidState.PartiallyFilled : BidState.Cancelled;
        return bid with { Fills = fills, State = state, ReasonCode = reasonCode, Reason = reason };
    });

    private static BidRecord Open(BidRecord bid) => bid.State is BidState.Pending or BidState.Resting
        ? bid
        : throw DomainException.Conflict("bid-not-open", $"the bid is already {bid.State}");

    private BidRecord Existing() => Current ?? throw DomainException.NotFound("bid", Id);

    private async Task<BidView> Change(Func<BidRecord, BidRecord> change)
    {
        await LoadAsync();
        await SaveAsync(change(Existing()));
        return View();
    }

    private async Task SaveAsync(BidRecord next)
    {
        if (ReferenceEquals(next, Current))
        {
            return; // a repeat of a change already made
        }
        await Row.SaveAsync(next with { UpdatedAt = clock.GetUtcNow() });
        Publish();
    }

    private void Publish()
    {
        var view = View();
        GrainFactory.Publish(new MarketUpdate(UpdateKind.Bid, view.TenantId, Id, view.Version, view.UpdatedAt, Bid: view));
    }

    private BidView View() => Current!.ToView(Id, Row.Version);
}
