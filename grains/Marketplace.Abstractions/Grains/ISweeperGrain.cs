namespace Marketplace.Grains;

/// <summary>
/// Drives the time rules that no request triggers (voucher lapse and expiry, reservation start and end, resuming
/// sagas, expiring resting bids). One per cluster (key 0); kept alive by a reminder.
/// </summary>
[Alias("sweeper")]
public interface ISweeperGrain : IGrainWithIntegerKey
{
    [Alias("start")] Task Start();

    /// <summary>Applies every rule that is due as of now; returns how many things it changed.</summary>
    [Alias("tick")] Task<int> Tick();
}
