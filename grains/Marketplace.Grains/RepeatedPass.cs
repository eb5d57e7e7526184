using Microsoft.Extensions.Logging;

namespace Marketplace.Grains;

/// <summary>
/// A pass of work a reentrant grain runs on request, one at a time. A request while a pass runs asks for another and
/// returns once a pass that began after it has finished; a one-way nudge asks for one but never waits. Passes follow each
/// other while someone asked again and the last one did some work, at most <paramref name="maxPasses"/> in a row (more
/// wait for the next request). A pass that fails part way is logged, not thrown at whoever asked: the next one tries again.
/// </summary>
/// <param name="pass">One pass; returns how much it did (0: nothing, so nudges it caused itself need no other pass).</param>
internal sealed class RepeatedPass(Func<Task<int>> pass, int maxPasses, ILogger logger, string what)
{
    private bool _running;
    private bool _askedAgain;
    private TaskCompletionSource? _waiters;

    /// <summary>Asks for a pass without waiting for one.</summary>
    public Task Nudge()
    {
        if (_running)
        {
            _askedAgain = true;
            return Task.CompletedTask;
        }
        return RunAsync();
    }

    /// <summary>Runs a pass, or waits for one that begins after this call.</summary>
    public async Task RunAsync()
    {
        if (_running)
        {
            _askedAgain = true;
            _waiters ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            await _waiters.Task;
            return;
        }
        _running = true;
        try
        {
            for (var count = 1; ; count++)
            {
                _askedAgain = false;
                var waiters = _waiters;
                _waiters = null;
                var done = 0;
                try
                {
                    done = await pass();
                }
                catch (Exception e)
                {
                    logger.LogWarning(e, "A pass of {Work} failed; the next pass tries again", what);
                }
                finally
                {
                    waiters?.TrySetResult();
                }
                if (_waiters is null && (done == 0 || !_askedAgain || count >= maxPasses))
                {
                    break;
                }
            }
        }
        finally
        {
            _running = false;
        }
    }
}
