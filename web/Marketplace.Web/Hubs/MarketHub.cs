using Marketplace.Grains;
using Marketplace.Web.Infrastructure;
using Marketplace.Web.Queries;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.SignalR;

namespace Marketplace.Web.Hubs;

/// <summary>
/// A pushed change. <see cref="Seq"/> is the version of the thing that changed (or of the aggregate), so a client that
/// applied a snapshot skips what it already has and a gap tells it it missed something.
/// </summary>
public sealed record PushMessage<T>(long Seq, DateTimeOffset At, T Data);

/// <summary>What a client needs to start from after (re)connecting; pushed updates with a higher version follow.</summary>
public sealed record MarketSnapshot(
    DateTimeOffset At,
    IReadOnlyList<BidView>? Bids,
    IReadOnlyList<ReservationView>? Reservations,
    IReadOnlyList<VoucherView>? Vouchers,
    IReadOnlyList<PoolView>? Pools,
    UtilizationSnapshot? Utilization,
    IReadOnlyList<TakeUp>? TakeUp);

/// <summary>
/// The market hub. A connection joins its own group on connect: its tenant's, its provider's, or the regulators'.
/// It cannot join any other group.
/// </summary>
[Authorize]
internal sealed class MarketHub(GrainCalls grains, ReadModels read, AuditLog audit, [FromKeyedServices(Names.ClockKeys.Market)] TimeProvider clock) : Hub
{
    public override async Task OnConnectedAsync()
    {
        foreach (var group in OwnGroups(Caller.Of(Context.User!)))
        {
            await Groups.AddToGroupAsync(Context.ConnectionId, group);
        }
        await base.OnConnectedAsync();
    }

    /// <summary>Joins a group the caller owns (its groups are joined on connect; this re-joins after a reconnect).</summary>
    public async Task Join(string? group)
    {
        var caller = Caller.Of(Context.User!);
        // A client can send null for any argument: it is refused like any group that is not the caller's.
        if (group is null || !OwnGroups(caller).Contains(group, StringComparer.Ordinal))
        {
            var http = Context.GetHttpContext()!;
            audit.Refuse(new Refusal(clock.GetUtcNow(), caller.Subject, RateLimits.CallerKey(http), caller.Role, "hub Join", 403,
                $"group {group ?? "(none)"}", RequestOrigin.Of(http)));
            throw new HubException("you may not join that group");
        }
        await Groups.AddToGroupAsync(Context.ConnectionId, group);
    }

    /// <summary>The caller's current state; apply it, then only updates with a higher version.</summary>
    public async Task<MarketSnapshot> Snapshot()
    {
        var caller = Caller.Of(Context.User!);
        var cancel = Context.ConnectionAborted;
        var now = clock.GetUtcNow();
        return caller.Role switch
        {
            Names.Roles.Sme when caller.TenantId is { } tenant => new MarketSnapshot(now,
                await read.BidsOfTenantAsync(tenant, 200, cancel), await read.ReservationsOfTenantAsync(tenant, 200, cancel),
                await read.VouchersOfTenantAsync(tenant, cancel), null, null, null),
            Names.Roles.Provider when caller.ProviderId is { } provider => new MarketSnapshot(now, null,
                await read.ReservationsOfProviderAsync(provider, 200, cancel), null,
                await grains.Run(c => c.GetGrain<IProviderGrain>(provider).GetPools(), cancel), null, null),
            Names.Roles.Regulator or Names.Roles.Admin => new MarketSnapshot(now, null, null, null, null,
                await grains.Run(c => c.GetGrain<IUtilizationGrain>(0).GetSnapshot(0), cancel), await read.TakeUpsAsync(null, cancel)),
            _ => new MarketSnapshot(now, null, null, null, null, null, null),
        };
    }

    /// <summary>The groups a caller's connection belongs to (<see cref="HubAccountCheck"/> takes a changed account's out of them).</summary>
    internal static IReadOnlyList<string> OwnGroups(Caller caller) => caller.Role switch
    {
        Names.Roles.Sme when caller.TenantId is { } tenant => [Names.Hub.TenantGroup(tenant)],
        Names.Roles.Provider when caller.ProviderId is { } provider => [Names.Hub.ProviderGroup(provider)],
        Names.Roles.Regulator or Names.Roles.Admin => [Names.Hub.RegulatorGroup],
        _ => [],
    };
}
