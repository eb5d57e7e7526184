using Marketplace.Grains;

namespace Marketplace.Web.Hubs;

/// <summary>
/// This web node's subscription to the market: keeps the node on the cluster's list of update receivers (re-registered
/// every few seconds, so a silo failure that loses the list silences the node for a few seconds at most) and takes the
/// batches the silos deliver to its inbox with a long poll, handing them to <see cref="MarketObserver"/>.
/// </summary>
internal sealed class HubRegistration(IClusterClient client, MarketObserver observer, ILogger<HubRegistration> logger) : BackgroundService
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan RetryInterval = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan PollWait = TimeSpan.FromSeconds(2); // well inside the client's call timeout
    private readonly Guid _nodeId = Guid.NewGuid();

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(KeepRegisteredAsync(stoppingToken), TakeUpdatesAsync(stoppingToken));

    private async Task KeepRegisteredAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            var registered = false;
            try
            {
                await client.GetGrain<IHubListGrain>(0).AddHub(_nodeId);
                registered = true;
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogDebug(e, "Could not register for updates yet");
            }
            // Until the first registration goes through (the cluster may still be connecting), try again soon.
            if (!await DelayAsync(registered ? Interval : RetryInterval, stoppingToken))
            {
                return;
            }
        }
    }

    private async Task TakeUpdatesAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            IReadOnlyList<MarketUpdate> updates;
            try
            {
                // Resolved on every call: until the cluster's manifest arrives, even naming the grain fails.
                updates = await client.GetGrain<IPushInboxGrain>(_nodeId).Take(PollWait);
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogDebug(e, "Could not take updates; trying again");
                if (!await DelayAsync(RetryInterval, stoppingToken))
                {
                    return;
                }
                continue;
            }
            if (updates.Count > 0)
            {
                await observer.OnUpdates(updates);
            }
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        try
        {
            await client.GetGrain<IHubListGrain>(0).RemoveHub(_nodeId).AsTask().WaitAsync(TimeSpan.FromSeconds(2), cancellationToken);
        }
        catch (Exception e)
        {
            logger.LogDebug(e, "Could not unregister from updates");
        }
        await base.StopAsync(cancellationToken);
    }

    private static async Task<bool> DelayAsync(TimeSpan delay, CancellationToken stoppingToken)
    {
        try
        {
            await Task.Delay(delay, stoppingToken);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
