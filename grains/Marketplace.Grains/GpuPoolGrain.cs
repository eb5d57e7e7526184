using Marketplace.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace Marketplace.Grains;

/// <summary>
/// The only authority on a pool's capacity (rule 4). Every call checks and changes memory in one turn and then waits
/// for a group commit, so no two calls can both take the last GPU of an hour, and a burst of holds costs one write. What
/// it keeps in memory, and the checks against it, are <see cref="PoolMemory"/>'s; its reads and writes of the pool's row
/// and holds are <see cref="StoredPool"/>'s; this class orchestrates and pushes.
/// </summary>
[Reentrant]
public sealed class GpuPoolGrain : Grain, IGpuPoolGrain
{
    private readonly MarketOptions _options;
    private readonly MarketLimits _limits;
    private readonly TimeProvider _clock;
    private readonly ILogger<GpuPoolGrain> _logger;
    private readonly StoredPool _pool;
    private readonly ReportThrottle _loadReports = new(TimeSpan.FromSeconds(10));

    public GpuPoolGrain(PoolStore store, IOptions<MarketOptions> options, IOptions<MarketLimits> limits, [FromKeyedServices(Names.ClockKeys.Market)] TimeProvider clock,
        ILogger<GpuPoolGrain> logger)
    {
        _options = options.Value;
        _limits = limits.Value;
        _clock = clock;
        _logger = logger;
        _pool = new StoredPool(store, this.GetPrimaryKeyString(), clock, logger, DeactivateOnIdle, View);
    }

    private string Id => this.GetPrimaryKeyString();

    private PoolMemory? Memory => _pool.Memory;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        await _pool.LoadAsync(cancellationToken);
        this.RegisterGrainTimer(OnTimer, new GrainTimerCreationOptions(_options.PushInterval, _options.PushInterval) { Interleave = true });
    }

    public async Task<PoolView> Initialize(PoolSpec spec)
    {
        if (Memory?.State is { } state)
        {
            if (state.Spec.ProviderId != spec.ProviderId)
            {
                throw DomainException.Conflict("pool-id-taken", $"pool id '{spec.PoolId}' belongs to another provider");
            }
            // A pool listed before the provider's name was kept with its spec is the same pool when listed again.
            if (state.Spec with { ProviderName = spec.ProviderName } != spec)
            {
                throw DomainException.Conflict("pool-exists", $"pool '{spec.PoolId}' already exists with other settings; change it instead");
            }
            return View();
        }
        _pool.Memory = PoolMemory.Create(spec, _limits, _clock.GetUtcNow());
        await _pool.SaveAsync();
        return View();
    }

    public async Task<PoolView?> Get()
    {
        await _pool.SyncHoldsAsync();
        return Memory is null ? null : View();
    }

    public Task Booked()
    {
        _pool.Booked();
        return Task.CompletedTask;
    }

    public async Task<HoldOutcome> Hold(HoldRequest request)
    {
        Existing();
        await _pool.SyncHoldsAsync();
        var memory = Existing();
        PurgeExpiredHolds();
        var now = _clock.GetUtcNow();
        if (memory.Answer(request, now, _limits.HorizonHours) is { } answer)
        {
            return answer;
        }
        var check = memory.Hold(request, now);
        // Checked again once the pool's row is taken (a fill may have come in since the holds were read); the market's fills
        // decided before it are refused, and it reads the pool again.
        await _pool.SaveAsync(termsChanged: true, check: check);
        return HoldOutcome.Ok;
    }

    public async Task<HoldOutcome> Confirm(string reservationId)
    {
        var memory = Existing();
        PurgeExpiredHolds();
        var (outcome, changed) = memory.Confirm(reservationId);
        if (changed)
        {
            await _pool.SaveAsync();
        }
        return outcome;
    }

    public async Task Release(string reservationId, long? fromHour)
    {
        await _pool.KnowHoldAsync(reservationId);
        if (Existing().Release(reservationId, fromHour))
        {
            await _pool.SaveAsync();
        }
    }

    public async Task<PoolView> Change(PoolChange change)
    {
        Existing();
        if (change.ExpectedVersion is { } expected && expected != _pool.Version)
        {
            throw new DomainException(ErrorKind.PreconditionFailed, "pool-version-changed",
                $"pool '{Id}' is at version {_pool.Version}, not {expected}: read it again and make the change from what it is now");
        }
        if (change.GpuCount is not null)
        {
            await _pool.SyncHoldsAsync(); // fewer GPUs are checked against every booking, the market's fills included
        }
        var check = Existing().Change(change, _clock.GetUtcNow(), _limits);
        await _pool.SaveAsync(termsChanged: true, check: check);
        return View();
    }

    public async Task<OutageEffect> AddOutage(Outage outage)
    {
        Existing();
        await _pool.SyncHoldsAsync(); // the reservations it hits include those the market's fills booked
        var memory = Existing();
        if (OutageRules.Problem(outage.From, outage.To) is { } problem)
        {
            throw DomainException.Rule("invalid-outage", problem, "to");
        }
        var from = Hours.Floor(outage.From);
        var to = Hours.Ceiling(outage.To);
        if (memory.State.Outages.FirstOrDefault(o => o.OutageId == outage.OutageId) is { } known)
        {
            if (known != outage)
            {
                throw DomainException.Conflict("outage-exists", $"outage '{outage.OutageId}' was declared with other times");
            }
            // A repeat: once the first one's write has committed and every fill on the old terms is in, the same list.
            await _pool.WrittenAsync();
            await _pool.SyncHoldsAsync();
            return new OutageEffect(memory.Affected(from, to));
        }

        memory.State.Outages.Add(outage);
        // Capacity not yet sold is withdrawn at once: a saga still holding it will fail to confirm and re-match.
        memory.WithdrawUnconfirmed(from, to);
        await _pool.SaveAsync(termsChanged: true);
        await _pool.SyncHoldsAsync(); // every fill on the old terms has committed or will be refused: none is missing now
        return new OutageEffect(memory.Affected(from, to));
    }

    public async Task<Outage?> EndOutage(string outageId, DateTimeOffset at)
    {
        if (Existing().EndOutage(outageId, at) is not { } ended)
        {
            return null;
        }
        await _pool.SaveAsync(termsChanged: true);
        return ended;
    }

    public async Task<bool> Suspend(string? because)
    {
        var state = Existing().State;
        if (state.SuspendedBecause == because)
        {
            return false;
        }
        state.SuspendedBecause = because;
        await _pool.SaveAsync(termsChanged: true); // fills decided while it sold are refused: the market reads it again
        return true;
    }

    public async Task<bool> SetReliability(int? scoreBasisPoints)
    {
        var state = Existing().State;
        if (state.ReliabilityBasisPoints == scoreBasisPoints)
        {
            return false;
        }
        state.ReliabilityBasisPoints = scoreBasisPoints;
        await _pool.SaveAsync(termsChanged: true); // fills decided on the old score are refused: the market reads it again
        return true;
    }

    public Task<PoolStanding> Standing()
    {
        var state = Existing().State;
        return Task.FromResult(new PoolStanding(state.SuspendedBecause, state.ReliabilityBasisPoints));
    }

    public async Task RecordEarnings(string reservationId, long amountFen)
    {
        await _pool.KnowHoldAsync(reservationId);
        if (Existing().Earn(reservationId, amountFen))
        {
            await _pool.SaveAsync();
        }
    }

    private PoolMemory Existing()
    {
        if (_pool.Broken)
        {
            throw GroupCommit.Unavailable();
        }
        return Memory ?? throw DomainException.NotFound("pool", Id);
    }

    /// <summary>Drops unconfirmed holds whose time ran out; returns whether capacity came back.</summary>
    private bool PurgeExpiredHolds()
    {
        if (Memory is null)
        {
            return false;
        }
        var expired = Memory.PurgeExpired(_clock.GetUtcNow()); // deleted from the table with the next write; ignored until then
        foreach (var id in expired)
        {
            _logger.LogInformation("Hold {ReservationId} on pool {PoolId} expired unconfirmed", id, Id);
        }
        _pool.PushDue |= expired.Count > 0;
        return expired.Count > 0;
    }

    private async Task OnTimer(CancellationToken cancellationToken)
    {
        if (Memory is null || _pool.Broken)
        {
            return;
        }
        await _pool.CatchUpAsync();
        var spec = Memory.State.Spec;
        if (PurgeExpiredHolds())
        {
            GrainFactory.GetGrain<IMarketGrain>(spec.GpuModel).CapacityChanged(Id).Ignore();
        }
        // Only what is written is pushed: while a write is in flight, memory is ahead of the database.
        if (_pool.PushDue && _pool.Pushable is { } view)
        {
            _pool.PushDue = false;
            GrainFactory.Publish(new MarketUpdate(UpdateKind.Pool, spec.ProviderId, Id, view.Version, _clock.GetUtcNow(), Pool: view));
        }
        ReportLoad();
    }

    /// <summary>
    /// Tells the regulator's view how loaded the pool is when that changed (it moves with the clock too), and every
    /// few seconds regardless, so a view that restarted fills up again.
    /// </summary>
    private void ReportLoad()
    {
        var at = _clock.GetUtcNow();
        var load = Memory!.Load(Id, at);
        if (_loadReports.Due(load.GetHashCode(), at))
        {
            GrainFactory.GetGrain<IUtilizationGrain>(0).ReportPool(load).Ignore();
        }
    }

    private PoolView View() => Memory!.View(Id, _clock.GetUtcNow(), _limits.HorizonHours, _pool.Version);
}
