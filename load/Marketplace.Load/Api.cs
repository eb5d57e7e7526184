using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Marketplace.Load;

/// <summary>One answer of the API: status, body (when JSON) and how long it took.</summary>
public sealed record Answer(HttpStatusCode Status, JsonElement Body, TimeSpan Elapsed)
{
    public bool Ok => (int)Status is >= 200 and < 300;

    /// <summary>The stable problem code of an error answer, or the status.</summary>
    public string Problem => Body.ValueKind == JsonValueKind.Object && Body.TryGetProperty("code", out var code) && code.ValueKind == JsonValueKind.String
        ? code.GetString()!
        : Body.ValueKind == JsonValueKind.Object && Body.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String
            ? type.GetString()!
            : ((int)Status).ToString(System.Globalization.CultureInfo.InvariantCulture);

    public string? Text(string property) =>
        Body.ValueKind == JsonValueKind.Object && Body.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}

/// <summary>The marketplace's public HTTP API, called with a bearer token per request (one connection pool for all actors).</summary>
public sealed class Api : IDisposable
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter() },
    };

    private readonly HttpClient _http;

    public Api(Uri baseUrl)
    {
        BaseUrl = baseUrl;
        var handler = new SocketsHttpHandler
        {
            MaxConnectionsPerServer = 512,
            PooledConnectionLifetime = TimeSpan.FromMinutes(10),
            AutomaticDecompression = DecompressionMethods.None,
        };
        _http = new HttpClient(handler) { BaseAddress = baseUrl, Timeout = TimeSpan.FromSeconds(30) };
    }

    public Uri BaseUrl { get; }

    /// <summary>
    /// A token for an API client from the marketplace's OpenID Connect token endpoint (client credentials), and how long
    /// it lasts. Not answered while the web tier has not registered the client yet (it does so as it starts): retried.
    /// </summary>
    public async Task<(string Token, TimeSpan Lifetime)> ClientTokenAsync(string clientId, string secret, CancellationToken cancel)
    {
        for (var attempt = 1; ; attempt++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/connect/token")
            {
                Content = new FormUrlEncodedContent(ClientCredentials(clientId, secret)),
            };
            using var response = await _http.SendAsync(request, cancel);
            var body = await response.Content.ReadFromJsonAsync<JsonElement>(cancel);
            if (response.IsSuccessStatusCode && body.TryGetProperty("access_token", out var token) && token.GetString() is { } text)
            {
                var seconds = body.TryGetProperty("expires_in", out var expires) ? expires.GetInt32() : 3600;
                return (text, TimeSpan.FromSeconds(seconds));
            }
            var error = body.ValueKind == JsonValueKind.Object && body.TryGetProperty("error", out var e) ? e.GetString() : null;
            if (attempt >= TokenAttempts || !(error is "invalid_client" || (int)response.StatusCode is 429 or >= 500))
            {
                throw new InvalidOperationException($"no token for client {clientId} ({(int)response.StatusCode} {error}); is it registered (Accounts:AutomationClientId on the web tier)?");
            }
            await Task.Delay(TimeSpan.FromSeconds(1), cancel);
        }
    }

    /// <summary>The token request of an API client (client credentials) for the marketplace's API scope.</summary>
    public static Dictionary<string, string> ClientCredentials(string clientId, string secret) => new()
    {
        ["grant_type"] = "client_credentials", ["client_id"] = clientId, ["client_secret"] = secret, ["scope"] = Names.Auth.ApiScope,
    };

    /// <summary>How often a token request is tried while the web tier starts (a second apart).</summary>
    private const int TokenAttempts = 60;

    public Task<Answer> GetAsync(string path, string token, CancellationToken cancel = default) =>
        SendAsync(HttpMethod.Get, path, token, null, null, cancel);

    public Task<Answer> PostAsync(string path, string token, object? body, string? idempotencyKey = null, CancellationToken cancel = default) =>
        SendAsync(HttpMethod.Post, path, token, body, idempotencyKey, cancel);

    public Task<Answer> PutAsync(string path, string token, object? body, CancellationToken cancel = default) =>
        SendAsync(HttpMethod.Put, path, token, body, null, cancel);

    public Task<Answer> DeleteAsync(string path, string token, CancellationToken cancel = default) =>
        SendAsync(HttpMethod.Delete, path, token, null, null, cancel);

    public async Task<Answer> SendAsync(HttpMethod method, string path, string? token, object? body, string? idempotencyKey, CancellationToken cancel)
    {
        using var request = new HttpRequestMessage(method, path);
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
        if (idempotencyKey is not null)
        {
            request.Headers.Add(Names.Headers.IdempotencyKey, idempotencyKey);
        }
        if (body is not null)
        {
            request.Content = JsonContent.Create(body, options: Json);
        }
        var clock = Stopwatch.StartNew();
        using var response = await _http.SendAsync(request, cancel);
        var bytes = await response.Content.ReadAsByteArrayAsync(cancel);
        var elapsed = clock.Elapsed;
        var parsed = default(JsonElement);
        if (bytes.Length > 0 && response.Content.Headers.ContentType?.MediaType?.EndsWith("json", StringComparison.Ordinal) == true)
        {
            parsed = JsonSerializer.Deserialize<JsonElement>(bytes);
        }
        return new Answer(response.StatusCode, parsed, elapsed);
    }

    public void Dispose() => _http.Dispose();
}
