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
        await LoadAsync(); // a repeat is answered from what is stored now
        if (Current is null)
        {
            // Most bids are new: insert without reading first. The id is taken only when this repeats an earlier request.
            var now = clock.GetUtcNow();
            if (await Row.TryCreateAsync(new BidRecord(submission.TenantId, submission.Order, submission.OrderHash, BidState.Pending, null, null, [], now, now)
                { ComputeBidId = submission.ComputeBidId }))
            {
                Publish();
                return (View(), true);
            }
        }
        return Current!.OrderHash == submission.OrderHash
            ? (View(), false)
            : throw new DomainException(ErrorKind.Rule, "idempotency-key-reused", "this idempotency key was already used for a different bid");
    }

    public Task<BidView> MarkResting(string? reasonCode, string? reason) => Change(bid => bid.Ended(BidState.Resting, reasonCode, reason));

    public Task<BidView> AddFill(Fill fill) => Change(bid => bid.WithFill(fill));

    public async Task<BidView> End(BidState state, string reasonCode, string reason)
    {
        var view = await Change(bid => bid.Ended(state, reasonCode, reason));
        logger.LogInformation("Bid {BidId} {State}: {Code}", Id, state, reasonCode);
        return view;
    }

    public Task<BidView> FillInterrupted(string reservationId, Fill? usedPart, Fill? replacement, string reasonCode, string reason) =>
        Change(bid => bid.WithInterruptedFill(reservationId, usedPart, replacement, reasonCode, reason));

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
