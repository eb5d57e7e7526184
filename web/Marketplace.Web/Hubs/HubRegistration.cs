using Marketplace.Grains;

namespace Marketplace.Web.Hubs;

/// <summary>
/// Keeps this web node on the cluster's list of update receivers: re-registers every few seconds, so a silo failure
/// that loses the list (or the observer reference) silences the node for a few seconds at most.
/// </summary>
internal sealed class HubRegistration(IClusterClient client, MarketObserver observer, ILogger<HubRegistration> logger) : BackgroundService
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan RetryInterval = TimeSpan.FromMilliseconds(250);
    private readonly Guid _nodeId = Guid.NewGuid();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        IMarketObserver? reference = null;
        while (!stoppingToken.IsCancellationRequested)
        {
            var registered = false;
            try
            {
                reference ??= client.CreateObjectReference<IMarketObserver>(observer);
                await client.GetGrain<IHubListGrain>(0).AddHub(_nodeId, reference);
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
