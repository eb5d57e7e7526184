namespace Marketplace.Grains;

/// <summary>Collects updates on each silo and forwards them in batches to every web node.</summary>
[Alias("push-notifier")]
public interface IPushNotifierGrain : IGrainWithIntegerKey
{
    [Alias("publish"), Orleans.Concurrency.OneWay] Task Publish(MarketUpdate update);
}

/// <summary>The web nodes that want updates (key 0). Each re-registers on a timer, so a lost list refills.</summary>
[Alias("hub-list")]
public interface IHubListGrain : IGrainWithIntegerKey
{
    [Alias("add")] ValueTask AddHub(Guid nodeId);

    [Alias("remove")] ValueTask RemoveHub(Guid nodeId);

    [Alias("hubs")] ValueTask<IReadOnlyList<Guid>> GetHubs();
}
