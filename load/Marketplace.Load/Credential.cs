namespace Marketplace.Load;

/// <summary>
/// An API client's credentials and its current access token, renewed in the background before it expires (a demo runs
/// for hours; a token lasts one). Every request reads <see cref="Token"/> as it goes out.
/// </summary>
public sealed class Credential
{
    private readonly Api _api;
    private readonly string _secret;
    private volatile string _token;

    private Credential(Api api, string clientId, string secret, string token)
    {
        _api = api;
        ClientId = clientId;
        _secret = secret;
        _token = token;
    }

    public string ClientId { get; }

    public string Token => _token;

    /// <summary>The share of a token's lifetime after which it is renewed.</summary>
    private const double RenewAt = 0.8;

    public static async Task<Credential> SignInAsync(Api api, string clientId, string secret, CancellationToken cancel)
    {
        var (token, lifetime) = await api.ClientTokenAsync(clientId, secret, cancel);
        var credential = new Credential(api, clientId, secret, token);
        _ = credential.RenewAsync(lifetime, cancel);
        return credential;
    }

    private async Task RenewAsync(TimeSpan lifetime, CancellationToken cancel)
    {
        while (!cancel.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(lifetime * RenewAt, cancel);
                (_token, lifetime) = await _api.ClientTokenAsync(ClientId, _secret, cancel);
            }
            catch (OperationCanceledException) when (cancel.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is HttpRequestException or InvalidOperationException or TaskCanceledException)
            {
                // The old token may still be good; try again in a while rather than stop the run.
                Console.Error.WriteLine($"renewing the token of {ClientId}: {e.Message}");
                lifetime = TimeSpan.FromMinutes(1);
            }
        }
    }
}
