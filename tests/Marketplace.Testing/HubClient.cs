using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.SignalR.Client;

namespace Marketplace.Testing;

/// <summary>A message a hub client received: the method and its payload as JSON, whatever the wire protocol.</summary>
public sealed record Received(string Method, JsonElement Payload, DateTimeOffset At);

/// <summary>Records every message of the market hub so a test can wait (boundedly) for the one it expects.</summary>
public sealed class HubClient : IAsyncDisposable
{
    private static readonly string[] Methods =
    [
        Names.Hub.BidUpdated, Names.Hub.ReservationUpdated, Names.Hub.VoucherUpdated, Names.Hub.PoolUpdated,
        Names.Hub.UtilizationUpdated, Names.Hub.TakeUpUpdated,
    ];

    private readonly ConcurrentQueue<Received> _received = new();
    private readonly SemaphoreSlim _arrived = new(0);

    public HubClient(HubConnection connection)
    {
        Connection = connection;
        foreach (var method in Methods)
        {
            connection.On<object>(method, payload =>
            {
                _received.Enqueue(new Received(method, CamelCase(JsonSerializer.SerializeToNode(payload, WebCluster.Json)), DateTimeOffset.UtcNow));
                _arrived.Release();
            });
        }
    }

    public HubConnection Connection { get; }

    /// <summary>
    /// Starts the connection and returns once the hub has joined the caller's groups. The client's StartAsync returns at
    /// the handshake, before the hub's OnConnectedAsync runs, so an update sent right after could miss the connection; an
    /// invocation is dispatched only after OnConnectedAsync, so its answer proves the groups are joined. The method asked
    /// for does not exist: its refusal runs no hub filter, so it is neither rate limited nor audited.
    /// </summary>
    public async Task StartAsync()
    {
        await Connection.StartAsync();
        try
        {
            await Connection.InvokeAsync("(groups joined?)");
        }
        catch (Microsoft.AspNetCore.SignalR.HubException)
        {
            // The expected answer: no such method, answered after the groups were joined.
        }
    }

    public IReadOnlyList<Received> All => [.. _received];

    public IReadOnlyList<Received> Of(string method) => _received.Where(r => r.Method == method).ToList();

    /// <summary>Waits until a message of <paramref name="method"/> matching <paramref name="match"/> arrives, or fails after the timeout.</summary>
    public async Task<Received> WaitFor(string method, Func<JsonElement, bool>? match = null, TimeSpan? timeout = null)
    {
        var deadline = DateTimeOffset.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (true)
        {
            var found = _received.FirstOrDefault(r => r.Method == method && (match?.Invoke(r.Payload) ?? true));
            if (found is not null)
            {
                return found;
            }
            var left = deadline - DateTimeOffset.UtcNow;
            if (left <= TimeSpan.Zero || !await _arrived.WaitAsync(left))
            {
                throw new TimeoutException($"no {method} message arrived in time; got {string.Join(", ", _received.Select(r => r.Method))}");
            }
        }
    }

    public async ValueTask DisposeAsync() => await Connection.DisposeAsync();

    /// <summary>MessagePack carries member names as declared (PascalCase), JSON camelCase: compare both the same way.</summary>
    private static JsonElement CamelCase(JsonNode? node)
    {
        static JsonNode? Convert(JsonNode? node) => node switch
        {
            JsonObject o => new JsonObject(o.Select(p => KeyValuePair.Create(JsonNamingPolicy.CamelCase.ConvertName(p.Key), Convert(p.Value?.DeepClone())))),
            JsonArray a => new JsonArray(a.Select(e => Convert(e?.DeepClone())).ToArray()),
            _ => node?.DeepClone(),
        };
        return JsonSerializer.SerializeToElement(Convert(node));
    }
}
