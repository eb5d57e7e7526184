using Microsoft.Extensions.Logging;
using Npgsql;

namespace Marketplace.Grains;

/// <summary>
/// A fault of the database that a retry may cure (the server shutting down or starting up, a connection lost, a
/// serialization failure) leaves a grain as an Unavailable <see cref="DomainException"/>, which callers answer 503 with
/// Retry-After. It cannot leave as the database's own exception: the cluster copies an exception to the caller with its
/// message but not its SQLSTATE, so the caller could no longer tell a server shutting down from a bug.
/// </summary>
public sealed class StorageFaultFilter(ILogger<StorageFaultFilter> logger) : IIncomingGrainCallFilter
{
    public const string Code = "storage-unavailable";

    public async Task Invoke(IIncomingGrainCallContext context)
    {
        try
        {
            await context.Invoke();
        }
        catch (NpgsqlException e) when (e.IsTransient)
        {
            logger.LogWarning("{Method} met a passing database fault: {Error}", context.ImplementationMethod.Name, e.Message);
            throw new DomainException(ErrorKind.Unavailable, Code, "the database is briefly unavailable; retry");
        }
    }
}
