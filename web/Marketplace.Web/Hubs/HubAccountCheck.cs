using Marketplace.Web.Accounts;
using Marketplace.Web.Infrastructure;
using Microsoft.AspNetCore.SignalR;

namespace Marketplace.Web.Hubs;

/// <summary>
/// A connection is authenticated once, when it opens: an account's connection stayed as it was after the account's role
/// changed or it was locked, until it closed (an expired token closes it: CloseOnAuthenticationExpiration). Every hub call
/// of an account's connection checks the account's stamp as the API checks a token's (<see cref="AccountStamps"/>); one
/// whose account changed is refused, and the connection leaves the groups it joined for its old role, so pushes for
/// that role stop too.
/// </summary>
internal sealed class HubAccountCheck(TrustedIssuers trusted, AccountStamps stamps) : IHubFilter
{
    public async ValueTask<object?> InvokeMethodAsync(HubInvocationContext invocationContext, Func<HubInvocationContext, ValueTask<object?>> next)
    {
        var connection = invocationContext.Context;
        if (connection.User is { } user && trusted.IsAccount(user) && await stamps.RefusalAsync(user, connection.ConnectionAborted) is { } refusal)
        {
            foreach (var group in MarketHub.OwnGroups(Caller.Of(user)))
            {
                await invocationContext.Hub.Groups.RemoveFromGroupAsync(connection.ConnectionId, group, connection.ConnectionAborted);
            }
            throw new HubException(refusal);
        }
        return await next(invocationContext);
    }
}
