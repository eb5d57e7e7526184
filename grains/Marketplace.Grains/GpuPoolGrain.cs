using Marketplace.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace Marketplace.Grains;

/// <summary>
/// The only authority on a pool's capacity (rule 4). Every call checks and changes memory in one turn and then waits
/// for a group commit, so no two calls can both take the last GPU of an hour, and a burst of holds costs one write. What
/// it keeps in memory, and the checks against it, are <see cref="PoolMemory"/>'s; this class reads, writes and pushes.
/// </summary>
[Reentrant]
public sealed class GpuPoolGrain : Grain, IGpuPoolGrain
{
    private static readonly TimeSpan LoadRefresh = TimeSpan.FromSeconds(10);

    private readonly PoolStore _store;
    private readonly MarketOptions _options;
    private readonly MarketLimits _limits;
    private readonly TimeProvider _clock;
    private readonly ILogger<GpuPoolGrain> _logger;
    private readonly GroupCommit _commit;
    private PoolMemory? _memory;
    private long _version;
    private bool _pushDue;
    private PoolView? _durable; // the pool as last written, with the version the write gave it
    private int _lastLoadHash;
    private DateTimeOffset _lastLoadAt;
    /// <summary>Whether the next write changes what the market sells, and what it must be checked against; gathered from the changes it carries.</summary>
    private bool _nextChangesTerms;
    private readonly List<PoolWriteCheck> _nextChecks = [];
    /// <summary>Holds its market wrote were read since the pool's own last write: the next tick writes the pool, so its version moves.</summary>
    private bool _learned;
    /// <summary>The market wrote fills here since the holds were last read.</summary>
    private bool _syncDue;

    public GpuPoolGrain(PoolStore store, IOptions<MarketOptions> options, IOptions<MarketLimits> limits, [FromKeyedServices(Names.ClockKeys.Market)] TimeProvider clock,
        ILogger<GpuPoolGrain> logger)
    {
        _store = store;
        _options = options.Value;
        _limits = limits.Value;
        _clock = clock;
        _logger = logger;
        _commit = new GroupCommit(WriteAsync);
    }

    private string Id => this.GetPrimaryKeyString();

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (await _store.LoadAsync(Id, cancellationToken) is { } row)
        {
            _memory = new PoolMemory(row.State);
            _version = row.Version;
        }
        this.RegisterGrainTimer(OnTimer, new GrainTimerCreationOptions(_options.PushInterval, _options.PushInterval) { Interleave = true });
    }

    public async Task<PoolView> Initialize(PoolSpec spec)
    {
        if (_memory?.State is { } state)
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
        _memory = PoolMemory.Create(spec, _limits, _clock.GetUtcNow());
        await SaveAsync();
        return View();
    }

    public async Task<PoolView?> Get()
    {
        await SyncHoldsAsync();
        return _memory is null ? null : View();
    }

    public Task Booked()
    {
        _syncDue = true;
        _learned = true; // even if an activation this call started has read the fill already: its view must carry a new version
        return Task.CompletedTask;
    }

    /// <summary>
    /// Learns the holds its market wrote (a fill is written by the market, not by the pool): adds every stored hold this
    /// activation has never known, and notes the bookings they are as of.
    /// </summary>
    private async Task SyncHoldsAsync()
    {
        if (_memory is null || _commit.Broken)
        {
            return;
        }
        _syncDue = false;
        if (_memory.Learn(await _store.LoadHoldsAsync(Id)))
        {
            _pushDue = true;
            _learned = true;
        }
    }

    public async Task<HoldOutcome> Hold(HoldRequest request)
    {
        Existing();
        await SyncHoldsAsync();
        var memory = Existing();
        PurgeExpiredHolds();
        var now = _clock.GetUtcNow();
        if (memory.Answer(request, now, _limits.HorizonHours) is { } answer)
        {
            return answer;
        }
        memory.Hold(request, now);
        // Checked again once the pool's row is taken (a fill may have come in since the holds were read); the market's fills
        // decided before it are refused, and it reads the pool again.
        await SaveAsync(termsChanged: true, check: PoolMemory.NoHourBeyond(request.StartHour, request.StartHour + request.Hours, now,
            memory.State.CapacityAt, (h, _) => $"the pool has fewer than {request.Gpus} GPUs free at {Hours.ToTime(h):u}"));
        return HoldOutcome.Ok;
    }

    public async Task<HoldOutcome> Confirm(string reservationId)
    {
        var memory = Existing();
        PurgeExpiredHolds();
        if (!memory.State.Holds.TryGetValue(reservationId, out var hold) || hold.ReleasedFromHour is not null)
        {
            return HoldOutcome.Refused("hold-expired", "the capacity hold expired or was withdrawn before it was confirmed");
        }
        if (hold.Confirmed)
        {
            return HoldOutcome.Ok;
        }
        hold.Confirmed = true;
        hold.ExpiresAt = null;
        memory.Changed(reservationId, hold);
        await SaveAsync();
        return HoldOutcome.Ok;
    }

    public async Task Release(string reservationId, long? fromHour)
    {
        if ((await ExistingWithHoldAsync(reservationId)).Release(reservationId, fromHour))
        {
            await SaveAsync();
        }
    }

    public async Task<PoolView> Change(PoolChange change)
    {
        Existing();
        if (change.ExpectedVersion is { } expected && expected != ShownVersion)
        {
            throw new DomainException(ErrorKind.PreconditionFailed, "pool-version-changed",
                $"pool '{Id}' is at version {ShownVersion}, not {expected}: read it again and make the change from what it is now");
        }
        if (change.GpuCount is not null)
        {
            await SyncHoldsAsync(); // fewer GPUs are checked against every booking, the market's fills included
        }
        var check = Existing().Change(change, _clock.GetUtcNow(), _limits);
        await SaveAsync(termsChanged: true, check: check);
        return View();
    }

    public async Task<OutageEffect> AddOutage(Outage outage)
    {
        Existing();
        await SyncHoldsAsync(); // the reservations it hits include those the market's fills booked
        var memory = Existing();
        if (outage.To <= outage.From)
        {
            throw DomainException.Rule("invalid-outage", "an outage must end after it starts", "to");
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
            if (!_commit.Idle)
            {
                await _commit.Save();
            }
            await SyncHoldsAsync();
            return new OutageEffect(memory.Affected(from, to));
        }

        memory.State.Outages.Add(outage);
        // Capacity not yet sold is withdrawn at once: a saga still holding it will fail to confirm and re-match.
        memory.WithdrawUnconfirmed(from, to);
        await SaveAsync(termsChanged: true);
        await SyncHoldsAsync(); // every fill on the old terms has committed or will be refused: none is missing now
        return new OutageEffect(memory.Affected(from, to));
    }

    public async Task<Outage?> EndOutage(string outageId, DateTimeOffset at)
    {
        var outages = Existing().State.Outages;
        var index = outages.FindIndex(o => o.OutageId == outageId);
        if (index < 0)
        {
            return null;
        }
        var outage = outages[index];
        if (outage.To <= at)
        {
            throw DomainException.Conflict("outage-over", $"outage '{outageId}' ended at {outage.To:u}");
        }
        // One not yet begun is cancelled: it ends where it would have started and takes no hour.
        var ended = outage with { To = outage.From > at ? outage.From : at };
        outages[index] = ended;
        await SaveAsync(termsChanged: true);
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
        await SaveAsync(termsChanged: true); // fills decided while it sold are refused: the market reads it again
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
        await SaveAsync(termsChanged: true); // fills decided on the old score are refused: the market reads it again
        return true;
    }

    public Task<PoolStanding> Standing()
    {
        var state = Existing().State;
        return Task.FromResult(new PoolStanding(state.SuspendedBecause, state.ReliabilityBasisPoints));
    }

    public async Task RecordEarnings(string reservationId, long amountFen)
    {
        var memory = await ExistingWithHoldAsync(reservationId);
        if (memory.State.Holds.TryGetValue(reservationId, out var hold) && !hold.Earned)
        {
            hold.Earned = true;
            memory.Changed(reservationId, hold);
            memory.State.EarningsFen = checked(memory.State.EarningsFen + amountFen);
            await SaveAsync();
        }
    }

    /// <summary>The pool, after reading its holds again if it does not know this one (a fill its market wrote).</summary>
    private async Task<PoolMemory> ExistingWithHoldAsync(string reservationId)
    {
        if (!Existing().State.Holds.ContainsKey(reservationId) && !Existing().Knows(reservationId))
        {
            await SyncHoldsAsync();
        }
        return Existing();
    }

    private PoolMemory Existing()
    {
        if (_commit.Broken)
        {
            throw GroupCommit.Unavailable();
        }
        return _memory ?? throw DomainException.NotFound("pool", Id);
    }

    /// <summary>Drops unconfirmed holds whose time ran out; returns whether capacity came back.</summary>
    private bool PurgeExpiredHolds()
    {
        if (_memory is null)
        {
            return false;
        }
        var expired = _memory.PurgeExpired(_clock.GetUtcNow()); // deleted from the table with the next write; ignored until then
        foreach (var id in expired)
        {
            _logger.LogInformation("Hold {ReservationId} on pool {PoolId} expired unconfirmed", id, Id);
        }
        _pushDue |= expired.Count > 0;
        return expired.Count > 0;
    }

    private Task SaveAsync(bool termsChanged = false, PoolWriteCheck? check = null)
    {
        _nextChangesTerms |= termsChanged;
        if (check is not null)
        {
            _nextChecks.Add(check);
        }
        return _commit.Save();
    }

    private async Task WriteAsync()
    {
        var memory = _memory!;
        var now = _clock.GetUtcNow();
        memory.State.UpdatedAt = now;
        var changes = memory.TakeChanges(Hours.Floor(now) - 48); // holds that ended two days ago are history
        var termsChanged = _nextChangesTerms;
        var checks = _nextChecks.ToList();
        _nextChangesTerms = false;
        _nextChecks.Clear();
        PoolWriteCheck? check = checks.Count == 0 ? null : holds => checks.Select(c => c(holds)).FirstOrDefault(r => r is not null);
        var written = View();
        try
        {
            _version = await _store.WriteAsync(Id, memory.State, changes, _version, termsChanged, check);
            _durable = written with { Version = ShownVersion };
            _pushDue = true;
        }
        catch (StaleStateException e)
        {
            // Another activation wrote first.
            _logger.LogWarning(e, "Pool {PoolId} changed while it was writing; reloading", Id);
            DeactivateOnIdle();
            throw new DomainException(ErrorKind.Unavailable, "pool-changed", "the pool's bookings changed meanwhile; retry");
        }
        catch (Exception e)
        {
            _logger.LogWarning(e, "Pool {PoolId} could not write its state; reloading", Id);
            DeactivateOnIdle();
            throw;
        }
    }

    private async Task OnTimer(CancellationToken cancellationToken)
    {
        if (_memory is null || _commit.Broken)
        {
            return;
        }
        if (_syncDue)
        {
            await SyncHoldsAsync();
        }
        if (_learned)
        {
            // The pool's version is what its pushes are ordered by: it moves when the pool learns of fills, so a view
            // that shows them never carries the version of one that did not (and it is stored, so it never goes back).
            _learned = false;
            await SaveAsync();
        }
        var spec = _memory.State.Spec;
        if (PurgeExpiredHolds())
        {
            GrainFactory.GetGrain<IMarketGrain>(spec.GpuModel).CapacityChanged(Id).Ignore();
        }
        // Only what is written is pushed: while a write is in flight, memory is ahead of the database.
        if (_pushDue && (_commit.Idle ? View() : _durable) is { } view)
        {
            _pushDue = false;
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
        var load = _memory!.Load(Id, at);
        var hash = load.GetHashCode();
        if (hash != _lastLoadHash || at - _lastLoadAt >= LoadRefresh || at < _lastLoadAt)
        {
            _lastLoadHash = hash;
            _lastLoadAt = at;
            GrainFactory.GetGrain<IUtilizationGrain>(0).ReportPool(load).Ignore();
        }
    }

    private PoolView View() => _memory!.View(Id, _clock.GetUtcNow(), _limits.HorizonHours, ShownVersion);

    /// <summary>The version a view of the pool carries (pushes are ordered by it): the pool's row's, which moves when it learns of fills too.</summary>
    private long ShownVersion => _version;
}
