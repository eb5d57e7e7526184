using Marketplace.Storage;

namespace Marketplace.Grains;

/// <summary>
/// A pool as its grain keeps it in memory: the stored state, the GPUs its holds use per hour, the holds not yet confirmed,
/// every hold the activation has known, and the holds changed since the last write; and the checks made against them.
/// Plain bookkeeping without I/O: the grain reads, writes and says when.
/// </summary>
internal sealed class PoolMemory
{
    private readonly HourlyCapacityCalendar _calendar = new();
    /// <summary>Holds changed since the last write (null: removed); the next write stores exactly these.</summary>
    private readonly Dictionary<string, PoolHold?> _changed = new(StringComparer.Ordinal);
    /// <summary>The holds not yet confirmed (few: those of sagas in flight), so expiry checks do not walk every hold.</summary>
    private readonly HashSet<string> _unconfirmed = new(StringComparer.Ordinal);
    /// <summary>Every hold this activation has known: one it removed is never read back from a row not yet deleted.</summary>
    private readonly HashSet<string> _known = new(StringComparer.Ordinal);

    public PoolMemory(PoolState state)
    {
        State = state;
        foreach (var (id, hold) in state.Holds)
        {
            Track(id, hold);
        }
    }

    public PoolState State { get; }

    /// <summary>A new pool as listed, once its GPU count and ask are in range.</summary>
    public static PoolMemory Create(PoolSpec spec, MarketLimits limits, DateTimeOffset now)
    {
        Guard(PoolRules.Validate(spec.GpuCount, spec.AskFenPerGpuHour, limits));
        return new PoolMemory(new PoolState { Spec = spec, AskFenPerGpuHour = spec.AskFenPerGpuHour, GpuCount = spec.GpuCount, CreatedAt = now, UpdatedAt = now });
    }

    /// <summary>
    /// Applies a change of ask or GPU count: a pool never shrinks below what is booked in any hour of the horizon. Returns the
    /// check to make again once the write has taken the pool's row (a fill may have come in since the holds were read).
    /// </summary>
    public PoolWriteCheck? Change(PoolChange change, DateTimeOffset now, MarketLimits limits)
    {
        // Everything is checked before anything is changed: a refused change leaves nothing behind for the next write.
        Guard(PoolRules.Validate(change.GpuCount, change.AskFenPerGpuHour, limits, required: false));
        var (from, until) = (Hours.Floor(now), Hours.Floor(now) + limits.HorizonHours + 2);
        if (change.GpuCount is { } count && _calendar.FirstHourAbove(from, until, count) is { } booked)
        {
            throw DomainException.Rule("capacity-below-booked",
                $"{_calendar.UsedAt(booked)} GPUs are booked at {Hours.ToTime(booked):u}; the pool cannot shrink below that", "gpuCount");
        }
        if (change.AskFenPerGpuHour is { } ask)
        {
            State.AskFenPerGpuHour = ask;
        }
        if (change.GpuCount is not { } gpus)
        {
            return null;
        }
        State.GpuCount = gpus;
        return NoHourBeyond(from, until, now, _ => gpus, (h, used) => $"{used} GPUs are booked at {Hours.ToTime(h):u}; the pool cannot shrink below that");
    }

    private static void Guard(FieldErrors errors)
    {
        if (errors.First is var (field, message))
        {
            throw DomainException.Rule(field == "gpuCount" ? "invalid-gpu-count" : "invalid-price", $"{field} {message}", field);
        }
    }

    public bool Knows(string reservationId) => _known.Contains(reservationId);

    private void Track(string reservationId, PoolHold hold)
    {
        _known.Add(reservationId);
        _calendar.Add(hold.StartHour, hold.EndHour, hold.Gpus);
        if (!hold.Confirmed)
        {
            _unconfirmed.Add(reservationId);
        }
    }

    /// <summary>Adds the stored holds this activation has never known (fills its market wrote); true when there was one.</summary>
    public bool Learn(IEnumerable<(string ReservationId, PoolHold Hold)> stored)
    {
        var learned = false;
        foreach (var (id, hold) in stored)
        {
            if (!_known.Contains(id))
            {
                State.Holds[id] = hold;
                Track(id, hold);
                learned = true;
            }
        }
        return learned;
    }

    /// <summary>
    /// The answer to a hold request that can be given without taking it: <see cref="HoldOutcome.Ok"/> for a repeat, a
    /// refusal, or null when the hours can be held.
    /// </summary>
    public HoldOutcome? Answer(HoldRequest request, DateTimeOffset now, int horizonHours)
    {
        if (State.Holds.TryGetValue(request.ReservationId, out var existing))
        {
            return existing.StartHour == request.StartHour && existing.Hours == request.Hours && existing.Gpus == request.Gpus
                ? HoldOutcome.Ok
                : HoldOutcome.Refused("hold-conflict", $"reservation {request.ReservationId} already holds other hours");
        }
        var firstBookable = Hours.FirstBookable(now);
        if (request.Hours <= 0 || request.Gpus <= 0)
        {
            return HoldOutcome.Refused("invalid-hold", "a hold needs at least one GPU for at least one hour");
        }
        if (request.StartHour < firstBookable || request.StartHour + request.Hours > firstBookable + horizonHours)
        {
            return HoldOutcome.Refused("outside-horizon", "the hours are no longer inside the booking horizon");
        }
        if (request.AskFenPerGpuHour != State.AskFenPerGpuHour)
        {
            return HoldOutcome.Refused("price-changed", $"the pool now asks {State.AskFenPerGpuHour} fen per GPU-hour");
        }
        if (State.SuspendedBecause is { } suspended)
        {
            return HoldOutcome.Refused(suspended, "the pool sells nothing while its provider is not verified");
        }
        return _calendar.FirstHourShort(request.StartHour, request.StartHour + request.Hours, State.CapacityAt, request.Gpus) is { } full
            ? HoldOutcome.Refused("no-capacity", $"the pool has fewer than {request.Gpus} GPUs free at {Hours.ToTime(full):u}")
            : null;
    }

    /// <summary>
    /// Takes the hours of a hold the pool gives itself (a saga's). Returns the check to make again once the write has taken
    /// the pool's row (a fill may have come in since the holds were read).
    /// </summary>
    public PoolWriteCheck Hold(HoldRequest request, DateTimeOffset now)
    {
        var hold = new PoolHold
        {
            StartHour = request.StartHour,
            Hours = request.Hours,
            Gpus = request.Gpus,
            Confirmed = request.ConfirmAtOnce,
            ExpiresAt = request.ConfirmAtOnce ? null : now + request.Ttl,
        };
        State.Holds[request.ReservationId] = hold;
        Changed(request.ReservationId, hold);
        _calendar.Add(hold.StartHour, hold.EndHour, hold.Gpus);
        return NoHourBeyond(hold.StartHour, hold.EndHour, now, State.CapacityAt,
            (h, _) => $"the pool has fewer than {request.Gpus} GPUs free at {Hours.ToTime(h):u}");
    }

    /// <summary>
    /// Confirms a saga's hold: refused when it expired or was withdrawn; whether memory changed (a repeat changes nothing).
    /// </summary>
    public (HoldOutcome Outcome, bool Changed) Confirm(string reservationId)
    {
        if (!State.Holds.TryGetValue(reservationId, out var hold) || hold.ReleasedFromHour is not null)
        {
            return (HoldOutcome.Refused("hold-expired", "the capacity hold expired or was withdrawn before it was confirmed"), false);
        }
        if (hold.Confirmed)
        {
            return (HoldOutcome.Ok, false);
        }
        hold.Confirmed = true;
        hold.ExpiresAt = null;
        Changed(reservationId, hold);
        return (HoldOutcome.Ok, true);
    }

    /// <summary>Adds what a settled reservation earned the pool, once per reservation; false when it counted already (or is unknown).</summary>
    public bool Earn(string reservationId, long amountFen)
    {
        if (!State.Holds.TryGetValue(reservationId, out var hold) || hold.Earned)
        {
            return false;
        }
        hold.Earned = true;
        Changed(reservationId, hold);
        State.EarningsFen = checked(State.EarningsFen + amountFen);
        return true;
    }

    public void Changed(string reservationId, PoolHold hold)
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

    public void Remove(string reservationId)
    {
        if (State.Holds.Remove(reservationId, out var hold))
        {
            _calendar.Remove(hold.StartHour, hold.EndHour, hold.Gpus);
            _changed[reservationId] = null;
            _unconfirmed.Remove(reservationId);
        }
    }

    /// <summary>Gives back the hold's hours from <paramref name="fromHour"/> on (all of them when null); false when that changes nothing.</summary>
    public bool Release(string reservationId, long? fromHour)
    {
        if (!State.Holds.TryGetValue(reservationId, out var hold))
        {
            return false;
        }
        var oldEnd = hold.EndHour;
        if (fromHour is null || fromHour <= hold.StartHour)
        {
            Remove(reservationId);
            return true;
        }
        if (fromHour >= oldEnd)
        {
            return false;
        }
        hold.ReleasedFromHour = fromHour;
        Changed(reservationId, hold);
        _calendar.Remove(fromHour.Value, oldEnd, hold.Gpus);
        return true;
    }

    /// <summary>Drops the unconfirmed holds whose time ran out (deleted from the table with the next write) and names them.</summary>
    public IReadOnlyList<string> PurgeExpired(DateTimeOffset now)
    {
        if (_unconfirmed.Count == 0)
        {
            return [];
        }
        var expired = _unconfirmed.Where(id => State.Holds[id].ExpiresAt <= now).ToList();
        foreach (var id in expired)
        {
            Remove(id);
        }
        return expired;
    }

    /// <summary>The confirmed reservations with hours in [<paramref name="from"/>, <paramref name="to"/>), in id order.</summary>
    public List<string> Affected(long from, long to) =>
        State.Holds.Where(h => h.Value.Confirmed && Overlaps(h.Value, from, to)).Select(h => h.Key).Order(StringComparer.Ordinal).ToList();

    /// <summary>Withdraws the holds not yet confirmed that have hours in [<paramref name="from"/>, <paramref name="to"/>).</summary>
    public void WithdrawUnconfirmed(long from, long to)
    {
        foreach (var id in State.Holds.Where(h => !h.Value.Confirmed && Overlaps(h.Value, from, to)).Select(h => h.Key).ToList())
        {
            Remove(id);
        }
    }

    /// <summary>
    /// Ends an outage at <paramref name="at"/> (<see cref="OutageRules.EndedAt"/>) and answers it as ended; null when the pool
    /// has no such outage. One already over cannot be ended.
    /// </summary>
    public Outage? EndOutage(string outageId, DateTimeOffset at)
    {
        var index = State.Outages.FindIndex(o => o.OutageId == outageId);
        if (index < 0)
        {
            return null;
        }
        var outage = State.Outages[index];
        var endsAt = OutageRules.EndedAt(outage.From, outage.To, at)
            ?? throw DomainException.Conflict("outage-over", $"outage '{outageId}' ended at {outage.To:u}");
        return State.Outages[index] = outage with { To = endsAt };
    }

    private static bool Overlaps(PoolHold hold, long from, long to) => hold.StartHour < to && hold.EndHour > from;

    /// <summary>
    /// The check of a write against the holds stored once it has taken the pool's row: the first hour in [<paramref name="from"/>,
    /// <paramref name="until"/>) whose stored holds use more than <paramref name="capacity"/> gives it, as a reason.
    /// </summary>
    public static PoolWriteCheck NoHourBeyond(long from, long until, DateTimeOffset now, Func<long, int> capacity, Func<long, int, string> reason) =>
        holds =>
        {
            for (var h = from; h < until; h++)
            {
                var used = holds.Where(x => x.StartHour <= h && h < x.EndHour && x.Counts(now)).Sum(x => x.Gpus);
                if (used > capacity(h))
                {
                    return reason(h, used);
                }
            }
            return null;
        };

    /// <summary>
    /// What the next write stores: the holds changed since the last one, once what ended before <paramref name="horizonStart"/>
    /// is dropped (history: the reservations table keeps it), so the state stays bounded.
    /// </summary>
    public Dictionary<string, PoolHold?> TakeChanges(long horizonStart)
    {
        foreach (var id in State.Holds.Where(h => h.Value.EndHour < horizonStart).Select(h => h.Key).ToList())
        {
            Remove(id);
        }
        State.Outages.RemoveAll(o => Hours.Ceiling(o.To) < horizonStart);
        _calendar.ForgetBefore(horizonStart);
        var changes = new Dictionary<string, PoolHold?>(_changed, StringComparer.Ordinal);
        _changed.Clear();
        return changes;
    }

    /// <summary>Capacity and use per hour from the hour of <paramref name="now"/>, for <paramref name="length"/> hours.</summary>
    public PoolCalendar Calendar(DateTimeOffset now, int length)
    {
        var start = Hours.Floor(now);
        var capacity = new int[length];
        var used = new int[length];
        for (var i = 0; i < length; i++)
        {
            capacity[i] = State.CapacityAt(start + i);
            used[i] = _calendar.UsedAt(start + i);
        }
        return new PoolCalendar(start, capacity, used);
    }

    /// <summary>The hours from now over which a pool's load and utilization are counted.</summary>
    private const int LoadHours = 24;

    /// <summary>The pool as its provider and the pages see it: its calendar over the horizon, its utilization over the next <see cref="LoadHours"/> hours.</summary>
    public PoolView View(string id, DateTimeOffset now, int horizonHours, long version)
    {
        var hour = Hours.Floor(now);
        var (used, capacity) = _calendar.Load(hour, LoadHours, State.CapacityAt);
        return new PoolView(id, State.Spec.ProviderId, State.Spec.Site, State.Spec.GpuModel, State.GpuCount, State.AskFenPerGpuHour,
            State.Outages.ToList(), Calendar(now, horizonHours + 2), HourlyCapacityCalendar.UtilizationBasisPoints(used, capacity), State.EarningsFen,
            State.Holds.Count(h => h.Value.Confirmed && h.Value.EndHour > hour), version, State.SuspendedBecause);
    }

    /// <summary>How loaded the pool is now and over the next <see cref="LoadHours"/> hours, as the regulator's view reads it.</summary>
    public PoolLoad Load(string id, DateTimeOffset now)
    {
        var hour = Hours.Floor(now);
        var (booked, capacity) = _calendar.Load(hour, LoadHours, State.CapacityAt);
        return new PoolLoad(id, State.Spec.ProviderId, State.Spec.Site, State.Spec.GpuModel, State.GpuCount, _calendar.UsedAt(hour), booked,
            capacity, State.AskFenPerGpuHour);
    }
}
