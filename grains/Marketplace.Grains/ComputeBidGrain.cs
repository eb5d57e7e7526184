using Marketplace.Domain;
using Marketplace.Domain.Rules;
using Marketplace.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Marketplace.Grains;

[GenerateSerializer]
public sealed class ComputeBidState
{
    [Id(0)] public string? TenantId { get; set; }
    [Id(1)] public ComputeOrder? Order { get; set; }
    [Id(2)] public BidState State { get; set; } = BidState.Resting;
    /// <summary>The try being made or last made; its immediate-or-cancel bids are looked at before another try.</summary>
    [Id(3)] public int Attempt { get; set; }
    [Id(4)] public string? FilledBidId { get; set; }
    [Id(5)] public string? ReasonCode { get; set; }
    [Id(6)] public string? Reason { get; set; }
    [Id(7)] public DateTimeOffset CreatedAt { get; set; }
    [Id(8)] public DateTimeOffset UpdatedAt { get; set; }
    [Id(9)] public long Version { get; set; }
}

/// <summary>
/// A good-till-cancelled compute bid (rule 9). It rests here, not in a market, and fills by tries: each try is one call
/// to the router, which places immediate-or-cancel bids, one market at a time, cheapest per PFLOPS-hour first, under the
/// idempotency key of the try (<see cref="Ids.ComputeTry"/>).
/// <para>
/// Why it fills at most once: (1) the grain is not reentrant and its state is written with the storage's version check,
/// so tries, a cancel and an expiry happen one at a time, and a duplicate activation's write is refused; (2) the number of
/// a try is written before the try is made, and a try's bids are found again by their ids, so a try repeated after a
/// crash is the same try (the router answers the bids it placed rather than placing new ones); (3) an immediate-or-cancel
/// bid never rests, so once a try has answered, no bid of it can fill later, except one a market crash left pending: the
/// next try, a cancel and an expiry wait until every bid of the last try has ended; (4) after a try that filled, the bid
/// is Filled and makes no more tries. So at any time at most one try's bids are open, every earlier try ended unfilled,
/// and the first fill ends the bid.
/// </para>
/// </summary>
public sealed class ComputeBidGrain(
    [PersistentState("compute-bid", Names.Storage.Grains)] IPersistentState<ComputeBidState> state,
    ComputeBidStore list,
    IOptions<MarketLimits> limits,
    [FromKeyedServices(Names.ClockKeys.Market)] TimeProvider clock) : Grain, IComputeBidGrain
{
    private readonly MarketLimits _limits = limits.Value;

    /// <summary>The version last written to the owner's list; it is written again until it is there.</summary>
    private long _listed = -1;

    private string Id => this.GetPrimaryKeyString();

    public async Task<BidView> Place(string tenantId, ComputeOrder order)
    {
        if (state.State.Order is { } placed)
        {
            return StateJson.Serialize(placed) == StateJson.Serialize(order) && state.State.TenantId == tenantId
                ? await ShownAsync()
                : throw DomainException.Rule("idempotency-key-reused", "this idempotency key was already used for a different bid");
        }
        var candidates = Candidates(order); // refuses a bid no catalogue model can serve before anything is stored
        var now = clock.GetUtcNow();
        state.State = new ComputeBidState
        {
            TenantId = tenantId, Order = order, State = BidState.Resting, Attempt = 0, CreatedAt = now, UpdatedAt = now,
            ReasonCode = "resting", Reason = "resting until a market offers the compute within its limits",
        };
        await state.WriteStateAsync();
        var view = await ShownAsync(); // listed before its first try, so a fill by that try is never shown without the bid
        // Registered before the first try, so that capacity that appears after the try reaches it.
        GrainFactory.GetGrain<IComputeBookGrain>(0).Add(Id, candidates.Select(c => c.Accelerator.Id).ToList()).Ignore();
        await TryAsync();
        return state.State.State == BidState.Resting ? view : await ViewAsync();
    }

    public async Task<BidView?> Get() => state.State.Order is null ? null : await ShownAsync();

    public async Task<BidView> Cancel(string tenantId)
    {
        if (state.State.Order is null || state.State.TenantId != tenantId)
        {
            throw DomainException.NotFound("bid", Id);
        }
        if (state.State.State == BidState.Resting && await LastTryEndedAsync())
        {
            await EndAsync(BidState.Cancelled, "cancelled", "cancelled by the tenant");
        }
        else if (state.State.State == BidState.Resting)
        {
            throw DomainException.Conflict("bid-being-matched", "the bid is being matched right now; try again in a moment");
        }
        return state.State.State is BidState.Cancelled ? await ShownAsync()
            : throw DomainException.Rule("bid-not-open", $"the bid is already {state.State.State}; cancel its reservation instead");
    }

    public async Task<bool> Nudge()
    {
        if (state.State.Order is null || state.State.State != BidState.Resting)
        {
            if (state.State.Order is not null)
            {
                await ShownAsync();
            }
            return false;
        }
        await TryAsync();
        return state.State.State == BidState.Resting;
    }

    /// <summary>Expires the bid once its latest start has passed, else makes one try, after the last try has ended.</summary>
    private async Task TryAsync()
    {
        if (!await LastTryEndedAsync() || state.State.State != BidState.Resting)
        {
            return; // a market is still deciding on a bid of the last try (or it filled): nothing new until it has decided
        }
        var order = state.State.Order!;
        if (Hours.Floor(order.LatestStart) < Hours.FirstBookable(clock.GetUtcNow()))
        {
            await EndAsync(BidState.Expired, "expired", "the bid expired unfilled: its latest start has passed");
            return;
        }
        state.State.Attempt++;
        await state.WriteStateAsync(); // the try's number is durable before any bid of it is placed
        try
        {
            var bid = await GrainFactory.GetGrain<IComputeRouterGrain>(0).PlaceBid(state.State.TenantId!, Ids.ComputeTry(Id, state.State.Attempt), order, Id);
            if (bid.State is BidState.Filled or BidState.PartiallyFilled)
            {
                await FilledAsync(bid.Id);
            }
        }
        catch (DomainException)
        {
            // nothing offers the compute now, or a market could not answer: it rests and tries again at the next notice
        }
    }

    /// <summary>
    /// Whether every bid of the last try has ended; records a fill found among them (a try cut short by a crash).
    /// </summary>
    private async Task<bool> LastTryEndedAsync()
    {
        if (state.State.Attempt == 0)
        {
            return true;
        }
        var key = Ids.ComputeTry(Id, state.State.Attempt);
        var bids = await Task.WhenAll(Candidates(state.State.Order!).Select(c =>
            GrainFactory.GetGrain<IBidGrain>(Ids.ComputeBid(state.State.TenantId!, key, c.Accelerator.Id)).Get()));
        if (bids.FirstOrDefault(b => b?.State is BidState.Filled or BidState.PartiallyFilled) is { } filled)
        {
            if (state.State.State == BidState.Resting)
            {
                await FilledAsync(filled.Id);
            }
            return true;
        }
        return bids.All(b => b is null || b.IsFinal);
    }

    private async Task FilledAsync(string bidId)
    {
        state.State.FilledBidId = bidId;
        await EndAsync(BidState.Filled, null, null);
    }

    private async Task EndAsync(BidState end, string? reasonCode, string? reason)
    {
        state.State.State = end;
        state.State.ReasonCode = reasonCode;
        state.State.Reason = reason;
        state.State.UpdatedAt = clock.GetUtcNow();
        state.State.Version++;
        await state.WriteStateAsync();
        await ShownAsync();
    }

    private IReadOnlyList<ComputeSizing> Candidates(ComputeOrder order)
    {
        var candidates = ComputeRules.Candidates(order.PflopsHours, order.MinMemoryGb, order.DurationHours, order.MaxFenPerPflopsHour,
            order.Vendors, order.GpuModels, _limits);
        return candidates.Count > 0 ? candidates : throw DomainException.Rule("no-compute-model",
            "no catalogue model with a published TFLOPS figure meets the memory, vendor, model, gang size and price limits of this bid");
    }

    /// <summary>
    /// The bid as shown, after making sure its owner's list and live pages have its latest state: a change is written to
    /// the list and pushed once, and again by the next call if the write failed.
    /// </summary>
    private async Task<BidView> ShownAsync()
    {
        var view = await ViewAsync();
        var record = Record();
        if (_listed != record.Version)
        {
            await list.WriteAsync(Id, record);
            _listed = record.Version;
            GrainFactory.Publish(new MarketUpdate(UpdateKind.Bid, view.TenantId, Id, view.Version, view.UpdatedAt, Bid: view));
        }
        return view;
    }

    /// <summary>The filled model bid under this bid's id, or the resting, cancelled or expired compute bid.</summary>
    private async Task<BidView> ViewAsync()
    {
        var filled = state.State.FilledBidId is { } filledId ? await GrainFactory.GetGrain<IBidGrain>(filledId).Get() : null;
        return Record().ToView(Id, filled, _limits);
    }

    /// <summary>The bid as its owner's list keeps it; its version starts at 1 and moves with each change of state.</summary>
    private ComputeBidRecord Record()
    {
        var s = state.State;
        return new ComputeBidRecord(s.TenantId!, s.Order!, s.State, s.ReasonCode, s.Reason, s.FilledBidId, s.CreatedAt, s.UpdatedAt, s.Version + 1);
    }
}

[GenerateSerializer]
public sealed class ComputeBookState
{
    [Id(0)] public Dictionary<string, List<string>> Resting { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>
/// The resting compute bids by candidate model (key 0). Not reentrant: a notice tries the bids one at a time and forgets
/// those that no longer rest. It never calls a market, so a market's notice (one way) can never wait on itself.
/// </summary>
public sealed class ComputeBookGrain(
    [PersistentState("compute-book", Names.Storage.Grains)] IPersistentState<ComputeBookState> state) : Grain, IComputeBookGrain
{
    public async Task Add(string bidId, IReadOnlyList<string> gpuModels)
    {
        state.State.Resting[bidId] = gpuModels.ToList();
        await state.WriteStateAsync();
    }

    public async Task CapacityMayHaveGrown(string gpuModel)
    {
        var ended = new List<string>();
        foreach (var (bidId, models) in state.State.Resting.ToList())
        {
            if (models.Contains(gpuModel, StringComparer.Ordinal) && !await StillRestsAsync(bidId))
            {
                ended.Add(bidId);
            }
        }
        if (ended.Count > 0)
        {
            ended.ForEach(id => state.State.Resting.Remove(id));
            await state.WriteStateAsync();
        }
    }

    /// <summary>Tries one bid; one that cannot be reached now is kept, for the next notice.</summary>
    private async Task<bool> StillRestsAsync(string bidId)
    {
        try
        {
            return await GrainFactory.GetGrain<IComputeBidGrain>(bidId).Nudge();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return true;
        }
    }
}
