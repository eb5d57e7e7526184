using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace Marketplace.Web.Infrastructure;

/// <summary>
/// Calls into the cluster with a short timeout and a couple of quick retries for failures a silo death causes. Every
/// grain operation the API uses is idempotent by its key, so a retry never doubles an effect; what still fails
/// becomes a 503 with Retry-After, never a 500.
/// </summary>
internal sealed class GrainCalls
{
    private readonly ResiliencePipeline _pipeline;

    public GrainCalls(IClusterClient client, IConfiguration configuration)
    {
        Client = client;
        var timeout = configuration.GetValue("Resilience:CallTimeout", TimeSpan.FromSeconds(5));
        _pipeline = new ResiliencePipelineBuilder()
            .AddRetry(new RetryStrategyOptions
            {
                MaxRetryAttempts = configuration.GetValue("Resilience:Retries", 3),
                Delay = TimeSpan.FromMilliseconds(250),
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                ShouldHandle = new PredicateBuilder().Handle<Exception>(e => Problems.IsTransient(e) && e is not TimeoutRejectedException),
            })
            .AddTimeout(timeout)
            .Build();
    }

    public IClusterClient Client { get; }

    public async Task<T> Run<T>(Func<IClusterClient, Task<T>> call, CancellationToken cancellationToken = default)
    {
        try
        {
            return await _pipeline.ExecuteAsync(async _ => await call(Client), cancellationToken);
        }
        catch (TimeoutRejectedException e)
        {
            throw new TimeoutException("the cluster did not answer in time", e);
        }
    }

    public Task Run(Func<IClusterClient, Task> call, CancellationToken cancellationToken = default) =>
        Run(async c =>
        {
            await call(c);
            return true;
        }, cancellationToken);
}
