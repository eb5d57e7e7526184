using Microsoft.AspNetCore.SignalR;

namespace Marketplace.Web.Hubs;

/// <summary>
/// The one place failed hub calls are logged: a refusal (a <see cref="HubException"/>, the caller's doing) at Warning
/// without a stack trace, anything else at Error. The framework's own log of failed invocations is switched off in
/// appsettings.json: it logs every refusal at Error with a stack trace, so any signed-in client could flood the error log.
/// </summary>
internal sealed class HubCallLogging(ILogger<HubCallLogging> logger) : IHubFilter
{
    public async ValueTask<object?> InvokeMethodAsync(HubInvocationContext invocationContext, Func<HubInvocationContext, ValueTask<object?>> next)
    {
        try
        {
            return await next(invocationContext);
        }
        catch (HubException e)
        {
            logger.LogWarning("Refused hub call {Method}: {Reason}", invocationContext.HubMethodName, e.Message);
            throw;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogError(e, "Hub call {Method} failed", invocationContext.HubMethodName);
            throw;
        }
    }
}
