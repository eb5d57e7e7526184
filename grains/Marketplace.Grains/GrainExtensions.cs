using Microsoft.Extensions.Logging;

namespace Marketplace.Grains;

internal static class GrainExtensions
{
    /// <summary>Hands an update to this silo's push notifier; it is batched and forwarded to every web node.</summary>
    public static void Publish(this IGrainFactory grains, MarketUpdate update) =>
        _ = grains.GetGrain<IPushNotifierGrain>(0).Publish(update);

    /// <summary>
    /// Tells every market of a change (a notice, a routing rule) and waits until each has re-matched by it. A market that
    /// does not answer now is logged, not fatal: it reads the change again at its next sweep.
    /// </summary>
    public static async Task TellEveryMarketAsync(this IGrainFactory grains, Func<IMarketGrain, Task> tell, ILogger logger,
        string change)
    {
        try
        {
            await Task.WhenAll(GpuModels.Known.Select(model => tell(grains.GetGrain<IMarketGrain>(model))));
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "A market did not take {Change} at once; it reads it again at its next sweep",
                change);
        }
    }

    public static DateTimeOffset UtcNow(this TimeProvider clock) => clock.GetUtcNow();
}
