using Marketplace.Grains;
using Marketplace.Web.Queries;
using Microsoft.AspNetCore.SignalR;

namespace Marketplace.Web.Hubs;

/// <summary>
/// Pushes the regulators' aggregates at a fixed pace however busy the market is: utilization at most twice a second
/// (only when it changed), take-up at most every two seconds (when a voucher changed) and every ten regardless.
/// </summary>
internal sealed class RegulatorFeed(IClusterClient client, ReadModels read, MarketObserver observer, IHubContext<MarketHub> hub,
    [FromKeyedServices(Names.ClockKeys.Market)] TimeProvider clock, IConfiguration configuration, ILogger<RegulatorFeed> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var utilizationInterval = configuration.GetValue("Push:UtilizationInterval", TimeSpan.FromMilliseconds(500));
        var takeUpInterval = configuration.GetValue("Push:TakeUpInterval", TimeSpan.FromSeconds(2));
        long knownVersion = 0;
        long takeUpSequence = 0;
        var lastTakeUp = DateTimeOffset.MinValue;
        using var timer = new PeriodicTimer(utilizationInterval);
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            try
            {
                var snapshot = await client.GetGrain<IUtilizationGrain>(0).GetSnapshot(knownVersion);
                if (snapshot is not null)
                {
                    knownVersion = snapshot.Version;
                    await hub.Clients.Group(Names.Hub.RegulatorGroup).SendAsync(Names.Hub.UtilizationUpdated,
                        new PushMessage<UtilizationSnapshot>(snapshot.Version, snapshot.At, snapshot), stoppingToken);
                }
                var now = clock.GetUtcNow();
                if (now - lastTakeUp >= takeUpInterval && (observer.TakeVoucherChanges() || now - lastTakeUp >= TimeSpan.FromSeconds(10)))
                {
                    lastTakeUp = now;
                    var takeUp = await read.TakeUpsAsync(null, stoppingToken);
                    await hub.Clients.Group(Names.Hub.RegulatorGroup).SendAsync(Names.Hub.TakeUpUpdated,
                        new PushMessage<IReadOnlyList<TakeUp>>(++takeUpSequence, now, takeUp), stoppingToken);
                }
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogDebug(e, "Regulator feed skipped a beat");
            }
        }
    }
}
