namespace Marketplace.Grains;

/// <summary>
/// Group commit for a reentrant grain: every change made while a write is in flight joins the next write, so many
/// concurrent calls cost one database round trip. <see cref="Save"/> completes when a write that includes the
/// caller's change has committed. A failed write fails its callers and breaks the writer: the grain's memory may
/// hold changes the database refused, so it must stop serving and reload (see <see cref="Broken"/>).
/// </summary>
internal sealed class GroupCommit(Func<Task> write)
{
    private TaskCompletionSource? _next;
    private bool _writing;

    public bool Broken { get; private set; }

    /// <summary>No write is in flight or waiting: memory and the database agree.</summary>
    public bool Idle => !_writing && _next is null;

    public Task Save()
    {
        if (Broken)
        {
            return Task.FromException(Unavailable());
        }
        _next ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var task = _next.Task;
        if (!_writing)
        {
            _ = WriteLoop();
        }
        return task;
    }

    private async Task WriteLoop()
    {
        _writing = true;
        try
        {
            while (_next is { } batch)
            {
                _next = null; // changes made from here on go into the next write
                if (Broken)
                {
                    batch.SetException(Unavailable());
                    continue;
                }
                try
                {
                    await write();
                    batch.SetResult();
                }
                catch (Exception e)
                {
                    Broken = true;
                    batch.SetException(e);
                }
            }
        }
        finally
        {
            _writing = false;
        }
    }

    public static DomainException Unavailable() =>
        new(ErrorKind.Unavailable, "state-reloading", "the grain is reloading its state after a failed write; retry");
}
