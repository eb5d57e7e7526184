namespace Marketplace.Domain;

/// <summary>
/// When a figure that moves is worth reporting again: whenever it changed, every <paramref name="refresh"/> regardless (so
/// a reader that restarted fills up again), and when the clock went back. Figures are compared by a hash of them.
/// </summary>
public sealed class ReportThrottle(TimeSpan refresh)
{
    private int? _lastHash;
    private DateTimeOffset _lastAt;

    /// <summary>Whether a figure with <paramref name="hash"/> is to be reported at <paramref name="at"/>; if so, it counts as reported.</summary>
    public bool Due(int hash, DateTimeOffset at)
    {
        if (hash == _lastHash && at - _lastAt < refresh && at >= _lastAt)
        {
            return false;
        }
        _lastHash = hash;
        _lastAt = at;
        return true;
    }
}
