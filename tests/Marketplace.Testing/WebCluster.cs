using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Marketplace.Web;
using Marketplace.Web.Infrastructure;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.Mvc.Testing.Handlers;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace Marketplace.Testing;

/// <summary>
/// A test cluster plus the web tier hosted in the test process (WebApplicationFactory). The web tier is a real Orleans
/// client that finds the silos through the same PostgreSQL membership table, as it does in production.
/// </summary>
public class WebCluster : MarketCluster
{
    public static readonly JsonSerializerOptions Json = CreateJson();

    private WebApplicationFactory<WebTier>? _factory;

    public WebApplicationFactory<WebTier> Factory => _factory ?? throw new InvalidOperationException("the web tier is not started");

    /// <summary>The issuer of the web tier's OpenID Connect provider (its own address does not matter to the tests).</summary>
    public const string Issuer = "http://localhost/";

    /// <summary>Settings of the web tier besides the connection, cluster and clock.</summary>
    protected virtual IReadOnlyDictionary<string, string?> WebSettings => new Dictionary<string, string?>();

    /// <summary>Services of the web tier to add or replace (after its own), for tests that watch what it does.</summary>
    protected virtual void ConfigureServices(IServiceCollection services)
    {
    }

    /// <summary>
    /// Serve over real Kestrel on a loopback port instead of the in-memory test server: HTTP parsing and the server's
    /// limits (the request body size above all) then apply exactly as in production.
    /// </summary>
    protected virtual bool UseKestrel => false;

    /// <summary>Where the web tier listens when it runs on Kestrel.</summary>
    public Uri BaseAddress { get; private set; } = new("http://localhost");

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        _factory = new ConfiguredFactory(web =>
        {
            web.UseEnvironment("Development");
            web.UseSetting("ConnectionStrings:Marketplace", Database.ConnectionString);
            web.UseSetting("Orleans:ClusterId", Cluster.Options.ClusterId);
            web.UseSetting("Orleans:ServiceId", Cluster.Options.ServiceId);
            web.UseSetting("Orleans:GatewayListRefreshPeriod", "00:00:01");
            // Development tokens are trusted only in Development with Auth:DevTokens on, signed with a key of the test's own.
            web.UseSetting("Auth:SigningKey", "test-signing-key-0123456789abcdef0123456789");
            web.UseSetting("Auth:DevTokens", "true");
            web.UseSetting("Auth:Oidc:Issuer", Issuer);
            web.UseSetting("RateLimiting:PermitsPerSecond", "100000");
            web.UseSetting("RateLimiting:Burst", "100000");
            web.UseSetting("Push:UtilizationInterval", "00:00:00.200");
            foreach (var (name, value) in WebSettings)
            {
                web.UseSetting(name, value);
            }
            web.ConfigureTestServices(services =>
            {
                services.AddKeyedSingleton<TimeProvider>(Names.ClockKeys.Market, Clock);
                // What the web tier logs at Warning and above, for tests of what reaches an operator's log.
                services.AddFakeLogging(o => o.FilteredLevels = new HashSet<LogLevel> { LogLevel.Warning, LogLevel.Error, LogLevel.Critical });
                ConfigureServices(services);
            });
        });
        if (UseKestrel)
        {
            // On the factory itself: a factory derived with WithWebHostBuilder would ignore the port and bind 5000.
            _factory.UseKestrel(0);
            _factory.StartServer();
        }
        // Start the host and wait until it reaches the cluster.
        using var client = _factory.CreateClient();
        BaseAddress = client.BaseAddress ?? BaseAddress;
        for (var attempt = 0; ; attempt++)
        {
            var ready = await client.GetAsync("/readyz");
            if (ready.IsSuccessStatusCode)
            {
                break;
            }
            if (attempt > 300)
            {
                throw new InvalidOperationException($"the web tier did not become ready: {await ready.Content.ReadAsStringAsync()}");
            }
            await Task.Delay(100);
        }
    }

    /// <summary>
    /// Restarts the silos, then waits until the web node is in their new hub list (it registers again every few seconds):
    /// until then the silos' push notifiers have no node to forward an update to, and a test's next update would be lost.
    /// </summary>
    public override async Task RestartSilosAsync()
    {
        await base.RestartSilosAsync();
        for (var attempt = 0; (await Grains.GetGrain<Marketplace.Grains.IHubListGrain>(0).GetHubs()).Count == 0; attempt++)
        {
            if (attempt > 300)
            {
                throw new InvalidOperationException("the web node did not register with the restarted silos for pushes");
            }
            await Task.Delay(100);
        }
    }

    public override async Task DisposeAsync()
    {
        if (_factory is not null)
        {
            await _factory.DisposeAsync();
        }
        await base.DisposeAsync();
    }

    /// <summary>What the web tier logged at Warning and above.</summary>
    public FakeLogCollector Logs => Factory.Services.GetFakeLogCollector();

    public string Token(string role, string? tenantId = null, string? providerId = null) =>
        Factory.Services.GetRequiredService<TokenIssuer>().Issue(role, tenantId, providerId);

    /// <summary>
    /// A check every client of <see cref="Client"/> sends its exchanges through (innermost, so it sees each request as sent
    /// and each response as answered), set by a test project that holds the API to its document; null: none.
    /// </summary>
    public static Func<WebCluster, DelegatingHandler>? ExchangeCheck { get; set; }

    /// <summary>
    /// An HTTP client that acts as the given role (and tenant or provider). With <paramref name="checkContract"/> off, its
    /// exchanges skip <see cref="ExchangeCheck"/>: for tests whose point is to send what the API document does not allow.
    /// </summary>
    public HttpClient Client(string? role = null, string? tenantId = null, string? providerId = null, bool checkContract = true)
    {
        var client = checkContract && ExchangeCheck is { } check
            ? Factory.CreateDefaultClient(Factory.ClientOptions.BaseAddress, new RedirectHandler(), new CookieContainerHandler(), check(this))
            : Factory.CreateClient();
        if (role is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token(role, tenantId, providerId));
        }
        return client;
    }

    public HttpClient Sme(string tenantId) => Client(Names.Roles.Sme, tenantId: tenantId);

    public HttpClient Provider(string providerId) => Client(Names.Roles.Provider, providerId: providerId);

    public HttpClient Admin() => Client(Names.Roles.Admin);

    public HttpClient Regulator() => Client(Names.Roles.Regulator);

    /// <summary>A SignalR connection to the market hub as the given role (or with the given <paramref name="bearer"/> token), with JSON or MessagePack.</summary>
    public async Task<HubClient> Hub(string role, string? tenantId = null, string? providerId = null, bool messagePack = false, bool start = true,
        string? bearer = null)
    {
        var token = bearer ?? Token(role, tenantId, providerId);
        var builder = new HubConnectionBuilder()
            .WithUrl(new Uri(UseKestrel ? BaseAddress : Factory.Server.BaseAddress, Names.Hub.Path), o =>
            {
                if (!UseKestrel)
                {
                    var server = Factory.Server;
                    o.HttpMessageHandlerFactory = _ => server.CreateHandler();
                }
                o.AccessTokenProvider = () => Task.FromResult<string?>(token);
                o.Transports = Microsoft.AspNetCore.Http.Connections.HttpTransportType.LongPolling;
            })
            .WithAutomaticReconnect();
        builder = messagePack
            ? builder.AddMessagePackProtocol()
            : builder.AddJsonProtocol(o => WebSetup.ConfigureJson(o.PayloadSerializerOptions));
        var hub = new HubClient(builder.Build());
        if (start)
        {
            await hub.StartAsync();
        }
        return hub;
    }

    /// <summary>The web tier's factory with the cluster's settings applied in <see cref="ConfigureWebHost"/>.</summary>
    private sealed class ConfiguredFactory(Action<IWebHostBuilder> configure) : WebApplicationFactory<WebTier>
    {
        protected override void ConfigureWebHost(IWebHostBuilder builder) => configure(builder);
    }

    private static JsonSerializerOptions CreateJson()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web);
        WebSetup.ConfigureJson(options);
        return options;
    }
}

public static class HttpJson
{
    public static async Task<T> Read<T>(this HttpResponseMessage response) =>
        (await response.Content.ReadFromJsonAsync<T>(WebCluster.Json))!;

    public static Task<HttpResponseMessage> PostJson<T>(this HttpClient client, string url, T body, string? idempotencyKey = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = JsonContent.Create(body, options: WebCluster.Json) };
        if (idempotencyKey is not null)
        {
            request.Headers.Add(Names.Headers.IdempotencyKey, idempotencyKey);
        }
        return client.SendAsync(request);
    }
}
