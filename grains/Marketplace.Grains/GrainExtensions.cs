namespace Marketplace.Grains;

internal static class GrainExtensions
{
    /// <summary>Hands an update to this silo's push notifier; it is batched and forwarded to every web node.</summary>
    public static void Publish(this IGrainFactory grains, MarketUpdate update) =>
        _ = grains.GetGrain<IPushNotifierGrain>(0).Publish(update);

    public static DateTimeOffset UtcNow(this TimeProvider clock) => clock.GetUtcNow();
}
