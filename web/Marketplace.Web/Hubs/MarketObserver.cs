using Microsoft.AspNetCore.SignalR;

namespace Marketplace.Web.Hubs;

/// <summary>This web node's window on the cluster: receives batches of updates and sends each to its owner's group.</summary>
internal sealed class MarketObserver(IHubContext<MarketHub> hub, TimeProvider clock, ILogger<MarketObserver> logger)
{
    private int _vouchersChanged;

    /// <summary>True once since the last call if a voucher changed (take-up is then worth recomputing).</summary>
    public bool TakeVoucherChanges() => Interlocked.Exchange(ref _vouchersChanged, 0) == 1;

    public async Task OnUpdates(IReadOnlyList<MarketUpdate> updates)
    {
        foreach (var update in updates)
        {
            try
            {
                Operability.PushLag.Record((clock.GetUtcNow() - update.At).TotalMilliseconds);
                await Send(update);
            }
            catch (Exception e)
            {
                logger.LogWarning(e, "Could not push {Kind} {Id}", update.Kind, update.EntityId);
            }
        }
    }

    private Task Send(MarketUpdate u) => u.Kind switch
    {
        UpdateKind.Bid => hub.Clients.Group(Names.Hub.TenantGroup(u.OwnerId)).SendAsync(Names.Hub.BidUpdated, new PushMessage<BidView>(u.Version, u.At, u.Bid!)),
        UpdateKind.Reservation => hub.Clients.Group(Names.Hub.TenantGroup(u.OwnerId))
            .SendAsync(Names.Hub.ReservationUpdated, new PushMessage<ReservationView>(u.Version, u.At, u.Reservation!)),
        UpdateKind.Voucher => VoucherChanged(u),
        UpdateKind.Pool => hub.Clients.Group(Names.Hub.ProviderGroup(u.OwnerId)).SendAsync(Names.Hub.PoolUpdated, new PushMessage<PoolView>(u.Version, u.At, u.Pool!)),
        _ => Task.CompletedTask,
    };

    private Task VoucherChanged(MarketUpdate u)
    {
        Interlocked.Exchange(ref _vouchersChanged, 1);
        return hub.Clients.Group(Names.Hub.TenantGroup(u.OwnerId)).SendAsync(Names.Hub.VoucherUpdated, new PushMessage<VoucherView>(u.Version, u.At, u.Voucher!));
    }
}
