using Marketplace.Storage;

namespace Marketplace.Grains;

/// <summary>
/// A grain's state kept in a versioned row: read the first time it is needed, created with an insert that does not
/// read first (most rows are new), and changed only by writes that name the version they read. A state changed
/// elsewhere meanwhile (another activation) is reloaded and the write refused, for the caller to retry.
/// </summary>
internal sealed class PersistedRow<T>(RowStore<T> store, string id, string refusalCode) where T : class
{
    private bool _loaded;

    public T? State { get; private set; }
    public long Version { get; private set; }

    public async Task LoadAsync(bool again = false)
    {
        if (_loaded && !again)
        {
            return;
        }
        if (await store.LoadAsync(id) is { } row)
        {
            (State, Version) = (row.State, row.Version);
            _loaded = true; // a row not there yet may be written by the market: it is read again next time
        }
    }

    /// <summary>Inserts the first state; returns false (with the stored state loaded) when the row already existed.</summary>
    public async Task<bool> TryCreateAsync(T state)
    {
        try
        {
            Version = await store.WriteAsync(id, state, 0);
            (State, _loaded) = (state, true);
            return true;
        }
        catch (StaleStateException)
        {
            await LoadAsync(again: true);
            return false;
        }
    }

    public async Task SaveAsync(T next)
    {
        try
        {
            Version = await store.WriteAsync(id, next, Version);
        }
        catch (StaleStateException)
        {
            await LoadAsync(again: true);
            throw new DomainException(ErrorKind.Unavailable, refusalCode, "it changed meanwhile; retry");
        }
        State = next;
    }
}
