using System.Collections;
using System.Diagnostics;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;

namespace Marketplace.Load;

/// <summary>
/// A tenant's connection to the market hub over WebSockets with MessagePack, as its console connects. Every bid or reservation
/// update that says a bid filled is reported with the time it arrived.
/// </summary>
public sealed class TenantHub : IAsyncDisposable
{
    private readonly HubConnection _connection;

    private TenantHub(HubConnection connection) => _connection = connection;

    public static async Task<TenantHub> ConnectAsync(Uri baseUrl, Credential credential, Action<string, long> filled, CancellationToken cancel)
    {
        var connection = new HubConnectionBuilder()
            .WithUrl(new Uri(baseUrl, Names.Hub.Path), o =>
            {
                o.AccessTokenProvider = () => Task.FromResult<string?>(credential.Token);
                o.Transports = HttpTransportType.WebSockets;
                o.SkipNegotiation = true;
            })
            .AddMessagePackProtocol()
            .WithAutomaticReconnect()
            .Build();
        connection.On<object>(Names.Hub.BidUpdated, message =>
        {
            var at = Stopwatch.GetTimestamp();
            var bid = Field(message, "Data");
            if (Field(bid, "Id") is string id && IsState(Field(bid, "State"), nameof(BidState.Filled), (int)BidState.Filled))
            {
                filled(id, at);
            }
        });
        connection.On<object>(Names.Hub.ReservationUpdated, message =>
        {
            var at = Stopwatch.GetTimestamp();
            var reservation = Field(message, "Data");
            if (Field(Field(reservation, "Plan"), "BidId") is string bidId
                && IsState(Field(reservation, "State"), nameof(ReservationState.Confirmed), (int)ReservationState.Confirmed))
            {
                filled(bidId, at);
            }
        });
        await connection.StartAsync(cancel);
        return new TenantHub(connection);
    }

    public async ValueTask DisposeAsync() => await _connection.DisposeAsync();

    /// <summary>A member of a MessagePack map, whatever the case of its name (MessagePack keeps the declared names).</summary>
    private static object? Field(object? map, string name)
    {
        if (map is not IDictionary dictionary)
        {
            return null;
        }
        foreach (DictionaryEntry entry in dictionary)
        {
            if (entry.Key is string key && string.Equals(key, name, StringComparison.OrdinalIgnoreCase))
            {
                return entry.Value;
            }
        }
        return null;
    }

    /// <summary>Enums travel as names or numbers depending on the resolver: accept both.</summary>
    private static bool IsState(object? value, string name, int number) => value switch
    {
        string s => s == name,
        IConvertible c => c.ToInt32(System.Globalization.CultureInfo.InvariantCulture) == number,
        _ => false,
    };
}
