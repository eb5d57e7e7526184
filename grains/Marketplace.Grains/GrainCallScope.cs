using Microsoft.Extensions.Logging;

namespace Marketplace.Grains;

/// <summary>
/// Every grain call runs inside a logging scope naming the grain (e.g. bid b-… or reservation b-…-1), so each line a
/// grain logs, and each line of what it calls, carries the id of the bid or reservation it concerns.
/// </summary>
public sealed class GrainCallScope(ILogger<GrainCallScope> logger) : IIncomingGrainCallFilter
{
    public async Task Invoke(IIncomingGrainCallContext context)
    {
        using var scope = logger.BeginScope(new KeyValuePair<string, object>[]
        {
            new("Grain", context.TargetId.Type.ToString()!),
            new("Id", context.TargetId.Key.ToString()!),
            new("Method", context.ImplementationMethod.Name),
        });
        await context.Invoke();
    }
}
