using Marketplace.Storage;
using Microsoft.Extensions.Logging;

namespace Marketplace.Grains;

/// <summary>
/// A pool grain's memory as stored: the <see cref="PoolMemory"/> it keeps, the version of its row, the holds its market
/// wrote read back in, and the group commit that writes its changes, so a burst of them costs one write. Each write names
/// the version it read (a stale activation writes nothing and deactivates), whether it changes what the market sells, and
/// what it must be checked against once it has taken the pool's row. The grain decides; this class reads and writes.
/// </summary>
internal sealed class StoredPool
{
    private readonly PoolStore _store;
    private readonly string _id;
    private readonly TimeProvider _clock;
    private readonly ILogger _logger;
    private readonly Action _deactivate;
    private readonly Func<PoolView> _view;
    private readonly GroupCommit _commit;
    private long _version;
    private PoolView? _durable; // the pool as last written, with the version the write gave it
    /// <summary>Whether the next write changes what the market sells, and what it must be checked against; gathered from the changes it carries.</summary>
    private bool _nextChangesTerms;
    private readonly List<PoolWriteCheck> _nextChecks = [];
    /// <summary>Holds its market wrote were read since the pool's own last write: the next tick writes the pool, so its version moves.</summary>
    private bool _learned;
    /// <summary>The market wrote fills here since the holds were last read.</summary>
    private bool _syncDue;

    /// <param name="deactivate">Ends the grain's activation once a write failed: the next one reads the pool again.</param>
    /// <param name="view">The pool's view from memory, at <see cref="Version"/>.</param>
    public StoredPool(PoolStore store, string id, TimeProvider clock, ILogger logger, Action deactivate, Func<PoolView> view)
    {
        _store = store;
        _id = id;
        _clock = clock;
        _logger = logger;
        _deactivate = deactivate;
        _view = view;
        _commit = new GroupCommit(WriteAsync);
    }

    /// <summary>The pool in memory; null until it is listed.</summary>
    public PoolMemory? Memory { get; set; }

    /// <summary>The version a view of the pool carries (pushes are ordered by it): the pool's row's, which moves when it learns of fills too.</summary>
    public long Version => _version;

    /// <summary>Something changed that no push has shown yet.</summary>
    public bool PushDue { get; set; }

    /// <summary>A write failed: the activation answers nothing more and is on its way out.</summary>
    public bool Broken => _commit.Broken;

    /// <summary>What a push may show: only what is written, so while a write is in flight (memory is ahead of the database) the pool as last written.</summary>
    public PoolView? Pushable => _commit.Idle ? _view() : _durable;

    public async Task LoadAsync(CancellationToken cancellationToken)
    {
        if (await _store.LoadAsync(_id, cancellationToken) is { } row)
        {
            Memory = new PoolMemory(row.State);
            _version = row.Version;
        }
    }

    /// <summary>Its market wrote fills on the pool: the holds are read again before they are next shown or reported.</summary>
    public void Booked()
    {
        _syncDue = true;
        _learned = true; // even if an activation this call started has read the fill already: its view must carry a new version
    }

    /// <summary>
    /// Learns the holds its market wrote (a fill is written by the market, not by the pool): adds every stored hold this
    /// activation has never known, and notes the bookings they are as of.
    /// </summary>
    public async Task SyncHoldsAsync()
    {
        if (Memory is null || _commit.Broken)
        {
            return;
        }
        _syncDue = false;
        if (Memory.Learn(await _store.LoadHoldsAsync(_id)))
        {
            PushDue = true;
            _learned = true;
        }
    }

    /// <summary>Reads the holds again if memory does not know this reservation's (a fill its market wrote).</summary>
    public async Task KnowHoldAsync(string reservationId)
    {
        if (Memory is { } memory && !memory.State.Holds.ContainsKey(reservationId) && !memory.Knows(reservationId))
        {
            await SyncHoldsAsync();
        }
    }

    /// <summary>On the pool's timer: reads the holds its market said it wrote, and writes the pool once it learned of any.</summary>
    public async Task CatchUpAsync()
    {
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
    }

    /// <summary>Returns once every write begun so far has committed.</summary>
    public Task WrittenAsync() => _commit.Idle ? Task.CompletedTask : _commit.Save();

    /// <summary>
    /// Writes memory with the next group commit. <paramref name="termsChanged"/>: the change moves what the market sells
    /// (its fills decided before it are refused); <paramref name="check"/>: what the write checks once it has the row.
    /// </summary>
    public Task SaveAsync(bool termsChanged = false, PoolWriteCheck? check = null)
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
        var memory = Memory!;
        var now = _clock.GetUtcNow();
        memory.State.UpdatedAt = now;
        var changes = memory.TakeChanges(Hours.Floor(now) - 48); // holds that ended two days ago are history
        var termsChanged = _nextChangesTerms;
        var checks = _nextChecks.ToList();
        _nextChangesTerms = false;
        _nextChecks.Clear();
        PoolWriteCheck? check = checks.Count == 0 ? null : holds => checks.Select(c => c(holds)).FirstOrDefault(r => r is not null);
        var written = _view();
        try
        {
            _version = await _store.WriteAsync(_id, memory.State, changes, _version, termsChanged, check);
            _durable = written with { Version = _version };
            PushDue = true;
        }
        catch (StaleStateException e)
        {
            // Another activation wrote first.
            _logger.LogWarning(e, "Pool {PoolId} changed while it was writing; reloading", _id);
            _deactivate();
            throw new DomainException(ErrorKind.Unavailable, "pool-changed", "the pool's bookings changed meanwhile; retry");
        }
        catch (Exception e)
        {
            _logger.LogWarning(e, "Pool {PoolId} could not write its state; reloading", _id);
            _deactivate();
            throw;
        }
    }
}
