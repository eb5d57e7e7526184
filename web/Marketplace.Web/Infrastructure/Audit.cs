using System.Threading.Channels;
using Npgsql;

namespace Marketplace.Web.Infrastructure;

internal sealed record AuditEntry(DateTimeOffset At, string Subject, string Role, string Action, string Resource, string Outcome, int StatusCode, string? Detail);

/// <summary>
/// The audit trail: every request by an admin or regulator and every refused authorization (401, 403, or a 404 for
/// another tenant's id). Written in the background in batches, so auditing never slows a request.
/// </summary>
internal sealed class AuditLog(NpgsqlDataSource db, ILogger<AuditLog> logger) : BackgroundService
{
    private readonly Channel<AuditEntry> _queue = Channel.CreateBounded<AuditEntry>(new BoundedChannelOptions(100_000)
    {
        FullMode = BoundedChannelFullMode.DropOldest,
    });

    // Held while a batch is taken from the queue and written, so a flush knows every entry recorded before it is stored.
    private readonly SemaphoreSlim _writing = new(1, 1);

    public void Record(AuditEntry entry) => _queue.Writer.TryWrite(entry);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (await _queue.Reader.WaitToReadAsync(stoppingToken))
        {
            await _writing.WaitAsync(stoppingToken);
            try
            {
                // A batch once taken is written even if the host is stopping: it is in no queue any more.
                await WriteQueuedAsync(CancellationToken.None);
            }
            finally
            {
                _writing.Release();
            }
        }
    }

    /// <summary>What is still queued when the host stops is written before the process ends.</summary>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        await FlushAsync(cancellationToken);
    }

    /// <summary>
    /// Writes everything recorded before the call, including a batch the background writer is writing right now (used at
    /// shutdown and by tests that read the log right after acting).
    /// </summary>
    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        await _writing.WaitAsync(cancellationToken);
        try
        {
            while (await WriteQueuedAsync(cancellationToken) > 0)
            {
            }
        }
        finally
        {
            _writing.Release();
        }
    }

    /// <summary>Writes up to one batch of what is queued; returns how many entries it took.</summary>
    private async Task<int> WriteQueuedAsync(CancellationToken cancellationToken)
    {
        var batch = new List<AuditEntry>();
        while (batch.Count < 500 && _queue.Reader.TryRead(out var entry))
        {
            batch.Add(entry);
        }
        try
        {
            await WriteAsync(batch, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning(e, "Could not write {Count} audit entries", batch.Count);
        }
        return batch.Count;
    }

    private async Task WriteAsync(List<AuditEntry> batch, CancellationToken cancellationToken)
    {
        if (batch.Count == 0)
        {
            return;
        }
        await using var command = db.CreateCommand("""
            INSERT INTO audit_log (at, subject, role, action, resource, outcome, status_code, detail)
            SELECT * FROM unnest(@at, @subject, @role, @action, @resource, @outcome, @status, @detail)
            """);
        command.Parameters.AddWithValue("at", batch.Select(e => e.At).ToArray());
        command.Parameters.AddWithValue("subject", batch.Select(e => e.Subject).ToArray());
        command.Parameters.AddWithValue("role", batch.Select(e => e.Role).ToArray());
        command.Parameters.AddWithValue("action", batch.Select(e => e.Action).ToArray());
        command.Parameters.AddWithValue("resource", batch.Select(e => e.Resource).ToArray());
        command.Parameters.AddWithValue("outcome", batch.Select(e => e.Outcome).ToArray());
        command.Parameters.AddWithValue("status", batch.Select(e => e.StatusCode).ToArray());
        command.Parameters.AddWithValue("detail", batch.Select(e => e.Detail).ToArray());
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}

internal sealed class AuditMiddleware(RequestDelegate next)
{
    private const string DeniedKey = "audit:denied";

    /// <summary>Marks the request as refused for ownership (answered 404 so ids cannot be probed).</summary>
    public static void MarkDenied(HttpContext context) => context.Items[DeniedKey] = true;

    public async Task InvokeAsync(HttpContext context, AuditLog audit, [FromKeyedServices(Names.ClockKeys.Market)] TimeProvider clock)
    {
        // Read now: the exception handler clears the endpoint of a request that failed.
        var action = context.GetEndpoint()?.DisplayName ?? $"{context.Request.Method} {context.Request.Path}";
        try
        {
            await next(context);
        }
        catch (Exception e) when (!context.RequestAborted.IsCancellationRequested)
        {
            // A failure deep in the market is still an action taken: record the status the exception handler will answer.
            Record(context, audit, clock, action, ProblemExceptionHandler.Map(e).Status);
            throw;
        }
        Record(context, audit, clock, action, context.Response.StatusCode);
    }

    private static void Record(HttpContext context, AuditLog audit, TimeProvider clock, string action, int status)
    {
        if (!context.Request.Path.StartsWithSegments("/api") && !context.Request.Path.StartsWithSegments(Names.Hub.Path))
        {
            return;
        }
        var caller = Caller.Of(context);
        var denied = status is 401 or 403 || context.Items.ContainsKey(DeniedKey);
        // On the hub, opening the connection is the action; its transport (every long poll, every send) is not, and would
        // put an entry in the trail for each push a regulator's dashboard receives.
        var hubTransport = context.Request.Path.StartsWithSegments(Names.Hub.Path) && !context.Request.Path.StartsWithSegments($"{Names.Hub.Path}/negotiate");
        if (!denied && (!caller.IsOversight || hubTransport))
        {
            return;
        }
        audit.Record(new AuditEntry(clock.GetUtcNow(), caller.Subject, caller.Role, action,
            $"{context.Request.Method} {context.Request.Path}", denied ? "denied" : status < 400 ? "ok" : "failed", status, null));
    }
}
