using Marketplace.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Marketplace.Silo;

/// <summary>
/// Gives the compute bids listed before their rows kept a public view one, as the silo starts (see
/// <see cref="ComputeBidStore.WriteMissingViewsAsync"/>); once every row has one, this reads nothing and writes nothing.
/// </summary>
internal sealed class ComputeBidViewBackfill(ComputeBidStore store, ILogger<ComputeBidViewBackfill> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var written = await store.WriteMissingViewsAsync(cancellationToken);
        if (written > 0)
        {
            logger.LogInformation("Wrote the public view of {Count} compute bids listed before views were kept", written);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
