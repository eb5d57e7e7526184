using Marketplace.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace Marketplace.Grains;

/// <summary>One bid. Changed only by its market, in the order the market decides; read by the web tier.</summary>
public sealed class BidGrain(BidStore store, [FromKeyedServices(Names.ClockKeys.Market)] TimeProvider clock) : Grain, IBidGrain
{
    private BidRecord? _bid;
    private long _version;
    private bool _loaded;

    private string Id => this.GetPrimaryKeyString();

    /// <summary>Reads the bid's row the first time it is needed (a new bid is inserted without reading first).</summary>
    private async Task LoadAsync(bool again = false)
    {
        if (_loaded && !again)
        {
            return;
        }
        if (await store.LoadAsync(Id) is { } row)
        {
            _bid = row.State;
            _version = row.Version;
        }
        _loaded = true;
    }

    public async Task<BidView?> Get()
    {
        await LoadAsync();
        return _bid is null ? null : View();
    }

    public async Task<(BidView Bid, bool Created)> Open(BidSubmission submission)
    {
        if (_bid is null)
        {
            // Most bids are new: insert without reading first. The id is taken only when this repeats an earlier request.
            var now = clock.GetUtcNow();
            var bid = new BidRecord(submission.TenantId, submission.Order, submission.OrderHash, BidState.Pending, null, null, [], now, now);
            try
            {
                _version = await store.WriteAsync(Id, bid, 0);
                (_bid, _loaded) = (bid, true);
                Publish();
                return (View(), true);
            }
            catch (StaleStateException)
            {
                await LoadAsync(again: true);
            }
        }
        return _bid!.OrderHash == submission.OrderHash
            ? (View(), false)
            : throw new DomainException(ErrorKind.Rule, "idempotency-key-reused", "this idempotency key was already used for a different bid");
    }

    public Task<BidView> MarkResting(string? reasonCode, string? reason) =>
        Change(bid => Open(bid) with { State = BidState.Resting, ReasonCode = reasonCode, Reason = reason });

    public Task<BidView> AddFill(Fill fill) => Change(bid => bid.Fills.Any(f => f.ReservationId == fill.ReservationId)
        ? bid
        : Open(bid) with { Fills = [.. bid.Fills, fill], State = BidState.Filled, ReasonCode = null, Reason = null });

    public Task<BidView> End(BidState state, string reasonCode, string reason) => Change(bid => bid.State == state
        ? bid
        : Open(bid) with { State = state, ReasonCode = reasonCode, Reason = reason });

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

    private BidRecord Existing() => _bid ?? throw DomainException.NotFound("bid", Id);

    private async Task<BidView> Change(Func<BidRecord, BidRecord> change)
    {
        await LoadAsync();
        await SaveAsync(change(Existing()));
        return View();
    }

    private async Task SaveAsync(BidRecord next)
    {
        if (ReferenceEquals(next, _bid))
        {
            return; // a repeat of a change already made
        }
        next = next with { UpdatedAt = clock.GetUtcNow() };
        try
        {
            _version = await store.WriteAsync(Id, next, _version);
        }
        catch (StaleStateException)
        {
            // Another activation moved the bid on; take its state and let the caller retry.
            await LoadAsync(again: true);
            throw new DomainException(ErrorKind.Unavailable, "bid-changed", "the bid changed meanwhile; retry");
        }
        _bid = next;
        Publish();
    }

    private void Publish()
    {
        var view = View();
        GrainFactory.Publish(new MarketUpdate(UpdateKind.Bid, view.TenantId, Id, view.Version, view.UpdatedAt, Bid: view));
    }

    private BidView View() => _bid!.ToView(Id, _version);
}
