using Marketplace.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace Marketplace.Grains;

/// <summary>
/// The only authority on a pool's capacity (rule 4). Every call checks and changes memory in one turn and then waits
/// for a group commit, so no two calls can both take the last GPU of an hour, and a burst of holds costs one write.
/// </summary>
[Reentrant]
public sealed class GpuPoolGrain : Grain, IGpuPoolGrain
{
    private readonly PoolStore _store;
    private readonly MarketOptions _options;
    private readonly MarketLimits _limits;
    private readonly TimeProvider _clock;
    private readonly ILogger<GpuPoolGrain> _logger;
    private readonly GroupCommit _commit;
    private readonly HourlyCapacityCalendar _calendar = new();
    /// <summary>Holds changed since the last write (null: removed); the next write stores exactly these.</summary>
    private readonly Dictionary<string, PoolHold?> _changed = new(StringComparer.Ordinal);
    /// <summary>The holds not yet confirmed (few: those of sagas in flight), so expiry checks do not walk every hold.</summary>
    private readonly HashSet<string> _unconfirmed = new(StringComparer.Ordinal);
    private PoolState? _state;
    private long _version;
    private static readonly TimeSpan LoadRefresh = TimeSpan.FromSeconds(10);
    private bool _pushDue;
    private PoolView? _durable; // the pool as last written, with the version the write gave it
    private int _lastLoadHash;
    private DateTimeOffset _lastLoadAt;
    /// <summary>Whether the next write changes what the market sells, and what it must be checked against; gathered from the changes it carries.</summary>
    private bool _nextChangesTerms;
    private readonly List<PoolWriteCheck> _nextChecks = [];
    /// <summary>Holds its market wrote were read since the pool's own last write: the next tick writes the pool, so its version moves.</summary>
    private bool _learned;
    /// <summary>Every hold this activation has known: one it removed is never read back from a row not yet deleted.</summary>
    private readonly HashSet<string> _known = new(StringComparer.Ordinal);
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
            _state = row.State;
            _version = row.Version;
            foreach (var (id, hold) in _state.Holds)
            {
                _known.Add(id);
                _calendar.Add(hold.StartHour, hold.EndHour, hold.Gpus);
                if (!hold.Confirmed)
                {
                    _unconfirmed.Add(id);
                }
            }
        }
        this.RegisterGrainTimer(OnTimer, new GrainTimerCreationOptions(_options.PushInterval, _options.PushInterval) { Interleave = true });
    }

    public async Task<PoolView> Initialize(PoolSpec spec)
    {
        if (_state is not null)
        {
            if (_state.Spec.ProviderId != spec.ProviderId)
            {
                throw DomainException.Conflict("pool-id-taken", $"pool id '{spec.PoolId}' belongs to another provider");
            }
            // A pool listed before the provider's name was kept with its spec is the same pool when listed again.
            if (_state.Spec with { ProviderName = spec.ProviderName } != spec)
            {
                throw DomainException.Conflict("pool-exists", $"pool '{spec.PoolId}' already exists with other settings; change it instead");
            }
            return View();
        }
        Guard(PoolRules.Validate(spec.GpuCount, spec.AskFenPerGpuHour, _limits));
        var now = _clock.GetUtcNow();
        _state = new PoolState { Spec = spec, AskFenPerGpuHour = spec.AskFenPerGpuHour, GpuCount = spec.GpuCount, CreatedAt = now, UpdatedAt = now };
        await SaveAsync();
        return View();
    }

    public async Task<PoolView?> Get()
    {
        await SyncHoldsAsync();
        return _state is null ? null : View();
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
        if (_state is null || _commit.Broken)
        {
            return;
        }
        _syncDue = false;
        var holds = await _store.LoadHoldsAsync(Id);
        foreach (var (id, hold) in holds)
        {
            if (_known.Add(id))
            {
                _state.Holds[id] = hold;
                _calendar.Add(hold.StartHour, hold.EndHour, hold.Gpus);
                if (!hold.Confirmed)
                {
                    _unconfirmed.Add(id);
                }
                _pushDue = true;
                _learned = true;
            }
        }
    }

    public async Task<HoldOutcome> Hold(HoldRequest request)
    {
        Existing();
        await SyncHoldsAsync();
        var state = Existing();
        PurgeExpiredHolds();
        if (state.Holds.TryGetValue(request.ReservationId, out var existing))
        {
            return existing.StartHour == request.StartHour && existing.Hours == request.Hours && existing.Gpus == request.Gpus
                ? HoldOutcome.Ok
                : HoldOutcome.Refused("hold-conflict", $"reservation {request.ReservationId} already holds other hours");
        }

        var now = _clock.GetUtcNow();
        var firstBookable = Hours.FirstBookable(now);
        if (request.Hours <= 0 || request.Gpus <= 0)
        {
            return HoldOutcome.Refused("invalid-hold", "a hold needs at least one GPU for at least one hour");
        }
        if (request.StartHour < firstBookable || request.StartHour + request.Hours > firstBookable + _limits.HorizonHours)
        {
            return HoldOutcome.Refused("outside-horizon", "the hours are no longer inside the booking horizon");
        }
        if (request.AskFenPerGpuHour != state.AskFenPerGpuHour)
        {
            return HoldOutcome.Refused("price-changed", $"the pool now asks {state.AskFenPerGpuHour} fen per GPU-hour");
        }
        if (state.SuspendedBecause is { } suspended)
        {
            return HoldOutcome.Refused(suspended, "the pool sells nothing while its provider is not verified");
        }
        for (var h = request.StartHour; h < request.StartHour + request.Hours; h++)
        {
            if (state.CapacityAt(h) - _calendar.UsedAt(h) < request.Gpus)
            {
                return HoldOutcome.Refused("no-capacity", $"the pool has fewer than {request.Gpus} GPUs free at {Hours.ToTime(h):u}");
            }
        }

        Changed(request.ReservationId, state.Holds[request.ReservationId] = new PoolHold
        {
            StartHour = request.StartHour,
            Hours = request.Hours,
            Gpus = request.Gpus,
            Confirmed = request.ConfirmAtOnce,
            ExpiresAt = request.ConfirmAtOnce ? null : now + request.Ttl,
        });
        _calendar.Add(request.StartHour, request.StartHour + request.Hours, request.Gpus);
        // Checked again once the pool's row is taken (a fill may have come in since the holds were read); the market's fills
        // decided before it are refused, and it reads the pool again.
        var (start, end, gpus) = (request.StartHour, request.StartHour + request.Hours, request.Gpus);
        await SaveAsync(termsChanged: true, check: holds =>
        {
            for (var h = start; h < end; h++)
            {
                if (UsedAt(holds, h, now) > state.CapacityAt(h))
                {
                    return $"the pool has fewer than {gpus} GPUs free at {Hours.ToTime(h):u}";
                }
            }
            return null;
        });
        return HoldOutcome.Ok;
    }

    public async Task<HoldOutcome> Confirm(string reservationId)
    {
        var state = Existing();
        PurgeExpiredHolds();
        if (!state.Holds.TryGetValue(reservationId, out var hold) || hold.ReleasedFromHour is not null)
        {
            return HoldOutcome.Refused("hold-expired", "the capacity hold expired or was withdrawn before it was confirmed");
        }
        if (hold.Confirmed)
        {
            return HoldOutcome.Ok;
        }
        hold.Confirmed = true;
        hold.ExpiresAt = null;
        Changed(reservationId, hold);
        await SaveAsync();
        return HoldOutcome.Ok;
    }

    public async Task Release(string reservationId, long? fromHour)
    {
        var state = await ExistingWithHoldAsync(reservationId);
        if (!state.Holds.TryGetValue(reservationId, out var hold))
        {
            return;
        }
        var oldEnd = hold.EndHour;
        if (fromHour is null || fromHour <= hold.StartHour)
        {
            Remove(state, reservationId);
        }
        else if (fromHour < oldEnd)
        {
            hold.ReleasedFromHour = fromHour;
            Changed(reservationId, hold);
            _calendar.Remove(fromHour.Value, oldEnd, hold.Gpus);
        }
        else
        {
            return;
        }
        await SaveAsync();
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
        var state = Existing();
        if (change.AskFenPerGpuHour is { } ask)
        {
            Guard(PoolRules.Validate(null, ask, _limits, required: false));
            state.AskFenPerGpuHour = ask;
        }
        if (change.GpuCount is { } count)
        {
            Guard(PoolRules.Validate(count, null, _limits, required: false));
            var now = Hours.Floor(_clock.GetUtcNow());
            for (var h = now; h <= now + _limits.HorizonHours + 1; h++)
            {
                if (_calendar.UsedAt(h) > count)
                {
                    throw DomainException.Rule("capacity-below-booked",
                        $"{_calendar.UsedAt(h)} GPUs are booked at {Hours.ToTime(h):u}; the pool cannot shrink below that", "gpuCount");
                }
            }
            state.GpuCount = count;
        }
        if (change.GpuCount is { } gpuCount)
        {
            // Checked again once the pool's row is taken: a fill may have come in since the holds were read.
            var from = Hours.Floor(_clock.GetUtcNow());
            var until = from + _limits.HorizonHours + 1;
            var at = _clock.GetUtcNow();
            await SaveAsync(termsChanged: true, check: holds =>
            {
                for (var h = from; h <= until; h++)
                {
                    if (UsedAt(holds, h, at) is var used && used > gpuCount)
                    {
                        return $"{used} GPUs are booked at {Hours.ToTime(h):u}; the pool cannot shrink below that";
                    }
                }
                return null;
            });
        }
        else
        {
            await SaveAsync(termsChanged: true);
        }
        return View();
    }

    public async Task<OutageEffect> AddOutage(Outage outage)
    {
        Existing();
        await SyncHoldsAsync(); // the reservations it hits include those the market's fills booked
        var state = Existing();
        if (outage.To <= outage.From)
        {
            throw DomainException.Rule("invalid-outage", "an outage must end after it starts", "to");
        }
        var from = Hours.Floor(outage.From);
        var to = Hours.Ceiling(outage.To);
        if (state.Outages.FirstOrDefault(o => o.OutageId == outage.OutageId) is { } known)
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
            return new OutageEffect(Affected(state, from, to));
        }

        state.Outages.Add(outage);
        // Capacity not yet sold is withdrawn at once: a saga still holding it will fail to confirm and re-match.
        foreach (var id in state.Holds.Where(h => !h.Value.Confirmed && Overlaps(h.Value, from, to)).Select(h => h.Key).ToList())
        {
            Remove(state, id);
        }
        await SaveAsync(termsChanged: true);
        await SyncHoldsAsync(); // every fill on the old terms has committed or will be refused: none is missing now
        return new OutageEffect(Affected(state, from, to));
    }

    public async Task<Outage?> EndOutage(string outageId, DateTimeOffset at)
    {
        var state = Existing();
        var index = state.Outages.FindIndex(o => o.OutageId == outageId);
        if (index < 0)
        {
            return null;
        }
        var outage = state.Outages[index];
        if (outage.To <= at)
        {
            throw DomainException.Conflict("outage-over", $"outage '{outageId}' ended at {outage.To:u}");
        }
        // One not yet begun is cancelled: it ends where it would have started and takes no hour.
        var ended = outage with { To = outage.From > at ? outage.From : at };
        state.Outages[index] = ended;
        await SaveAsync(termsChanged: true);
        return ended;
    }

    public async Task<bool> Suspend(string? because)
    {
        var state = Existing();
        if (state.SuspendedBecause == because)
        {
            return false;
        }
        state.SuspendedBecause = because;
        await SaveAsync(termsChanged: true); // fills decided while it sold are refused: the market reads it again
        return true;
    }

    public async Task RecordEarnings(string reservationId, long amountFen)
    {
        var state = await ExistingWithHoldAsync(reservationId);
        if (state.Holds.TryGetValue(reservationId, out var hold) && !hold.Earned)
        {
            hold.Earned = true;
            Changed(reservationId, hold);
            state.EarningsFen = checked(state.EarningsFen + amountFen);
            await SaveAsync();
        }
    }

    private void Changed(string reservationId, PoolHold hold)
    {
        _known.Add(reservationId);
        _changed[reservationId] = hold;
        if (hold.Confirmed)
        {
            _unconfirmed.Remove(reservationId);
        }
        else
        {
            _unconfirmed.Add(reservationId);
        }
    }

    private void Remove(PoolState state, string reservationId)
    {
        if (state.Holds.Remove(reservationId, out var hold))
        {
            _calendar.Remove(hold.StartHour, hold.EndHour, hold.Gpus);
            _changed[reservationId] = null;
            _unconfirmed.Remove(reservationId);
        }
    }

    private static List<string> Affected(PoolState state, long from, long to) =>
        state.Holds.Where(h => h.Value.Confirmed && Overlaps(h.Value, from, to)).Select(h => h.Key).Order(StringComparer.Ordinal).ToList();

    private static bool Overlaps(PoolHold hold, long from, long to) => hold.StartHour < to && hold.EndHour > from;

    /// <summary>The pool, after reading its holds again if it does not know this one (a fill its market wrote).</summary>
    private async Task<PoolState> ExistingWithHoldAsync(string reservationId)
    {
        if (!Existing().Holds.ContainsKey(reservationId) && !_known.Contains(reservationId))
        {
            await SyncHoldsAsync();
        }
        return Existing();
    }

    private PoolState Existing()
    {
        if (_commit.Broken)
        {
            throw GroupCommit.Unavailable();
        }
        return _state ?? throw DomainException.NotFound("pool", Id);
    }

    private static void Guard(FieldErrors errors)
    {
        if (errors.First is var (field, message))
        {
            throw DomainException.Rule(field == "gpuCount" ? "invalid-gpu-count" : "invalid-price", $"{field} {message}", field);
        }
    }

    /// <summary>Drops unconfirmed holds whose time ran out; returns whether capacity came back.</summary>
    private bool PurgeExpiredHolds()
    {
        if (_state is null)
        {
            return false;
        }
        var now = _clock.GetUtcNow();
        if (_unconfirmed.Count == 0)
        {
            return false;
        }
        var expired = _unconfirmed.Where(id => _state.Holds[id].ExpiresAt <= now).ToList();
        foreach (var id in expired)
        {
            Remove(_state, id); // deleted from the table with the next write; ignored until then, being expired
            _logger.LogInformation("Hold {ReservationId} on pool {PoolId} expired unconfirmed", id, Id);
        }
        if (expired.Count > 0)
        {
            _pushDue = true;
        }
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

    /// <summary>GPUs the stored holds use in an hour (a hold that lapsed unconfirmed uses none).</summary>
    private static int UsedAt(IReadOnlyCollection<PoolHold> holds, long hour, DateTimeOffset now) =>
        holds.Where(h => h.StartHour <= hour && hour < h.EndHour && h.Counts(now)).Sum(h => h.Gpus);

    private async Task WriteAsync()
    {
        var state = _state!;
        var now = _clock.GetUtcNow();
        state.UpdatedAt = now;
        // Keep state bounded: holds that ended two days ago are history (the reservations table keeps it).
        var horizonStart = Hours.Floor(now) - 48;
        foreach (var id in state.Holds.Where(h => h.Value.EndHour < horizonStart).Select(h => h.Key).ToList())
        {
            Remove(state, id);
        }
        state.Outages.RemoveAll(o => Hours.Ceiling(o.To) < horizonStart);
        _calendar.ForgetBefore(horizonStart);
        var changes = new Dictionary<string, PoolHold?>(_changed, StringComparer.Ordinal);
        _changed.Clear();
        var termsChanged = _nextChangesTerms;
        var checks = _nextChecks.ToList();
        _nextChangesTerms = false;
        _nextChecks.Clear();
        PoolWriteCheck? check = checks.Count == 0 ? null : holds => checks.Select(c => c(holds)).FirstOrDefault(r => r is not null);
        var written = View();
        try
        {
            _version = await _store.WriteAsync(Id, state, changes, _version, termsChanged, check);
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
        if (_state is null || _commit.Broken)
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
        if (PurgeExpiredHolds())
        {
            GrainFactory.GetGrain<IMarketGrain>(_state.Spec.GpuModel).CapacityChanged(Id).Ignore();
        }
        // Only what is written is pushed: while a write is in flight, memory is ahead of the database.
        if (_pushDue && (_commit.Idle ? View() : _durable) is { } view)
        {
            _pushDue = false;
            GrainFactory.Publish(new MarketUpdate(UpdateKind.Pool, _state.Spec.ProviderId, Id, view.Version, _clock.GetUtcNow(), Pool: view));
        }
        ReportLoad();
    }

    /// <summary>
    /// Tells the regulator's view how loaded the pool is when that changed (it moves with the clock too), and every
    /// few seconds regardless, so a view that restarted fills up again.
    /// </summary>
    private void ReportLoad()
    {
        var state = _state!;
        var now = Hours.Floor(_clock.GetUtcNow());
        long booked = 0, capacity = 0;
        for (var h = now; h < now + 24; h++)
        {
            booked += _calendar.UsedAt(h);
            capacity += state.CapacityAt(h);
        }
        var load = new PoolLoad(Id, state.Spec.ProviderId, state.Spec.Site, state.Spec.GpuModel, state.GpuCount,
            _calendar.UsedAt(now), booked, capacity, state.AskFenPerGpuHour);
        var hash = load.GetHashCode();
        var at = _clock.GetUtcNow();
        if (hash != _lastLoadHash || at - _lastLoadAt >= LoadRefresh || at < _lastLoadAt)
        {
            _lastLoadHash = hash;
            _lastLoadAt = at;
            GrainFactory.GetGrain<IUtilizationGrain>(0).ReportPool(load).Ignore();
        }
    }

    private PoolCalendar Calendar()
    {
        var state = _state!;
        var start = Hours.Floor(_clock.GetUtcNow());
        var length = _limits.HorizonHours + 2;
        var capacity = new int[length];
        var used = new int[length];
        for (var i = 0; i < length; i++)
        {
            capacity[i] = state.CapacityAt(start + i);
            used[i] = _calendar.UsedAt(start + i);
        }
        return new PoolCalendar(start, capacity, used);
    }

    private PoolView View()
    {
        var state = _state!;
        var calendar = Calendar();
        long used = 0, capacity = 0;
        for (var i = 0; i < 24; i++)
        {
            used += calendar.Used[i];
            capacity += calendar.Capacity[i];
        }
        var now = Hours.Floor(_clock.GetUtcNow());
        return new PoolView(Id, state.Spec.ProviderId, state.Spec.Site, state.Spec.GpuModel, state.GpuCount, state.AskFenPerGpuHour,
            state.Outages.ToList(), calendar, capacity == 0 ? 10_000 : (int)(used * 10_000 / capacity), state.EarningsFen,
            state.Holds.Count(h => h.Value.Confirmed && h.Value.EndHour > now), ShownVersion, state.SuspendedBecause);
    }

    /// <summary>The version a view of the pool carries (pushes are ordered by it): the pool's row's, which moves when it learns of fills too.</summary>
    private long ShownVersion => _version;
}
