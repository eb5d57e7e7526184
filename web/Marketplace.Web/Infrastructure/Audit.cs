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

    public void Record(AuditEntry entry) => _queue.Writer.TryWrite(entry);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var batch = new List<AuditEntry>();
        while (await _queue.Reader.WaitToReadAsync(stoppingToken))
        {
            while (batch.Count < 500 && _queue.Reader.TryRead(out var entry))
            {
                batch.Add(entry);
            }
            try
            {
                await WriteAsync(batch, stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning(e, "Could not write {Count} audit entries", batch.Count);
            }
            batch.Clear();
        }
    }

    /// <summary>Writes what is queued now (used at shutdown and by tests that read the log right after acting).</summary>
    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        var batch = new List<AuditEntry>();
        while (_queue.Reader.TryRead(out var entry))
        {
            batch.Add(entry);
        }
        await WriteAsync(batch, cancellationToken);
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
        await next(context);
        if (!context.Request.Path.StartsWithSegments("/api") && !context.Request.Path.StartsWithSegments(Names.Hub.Path))
        {
            return;
        }
        var caller = Caller.Of(context);
        var status = context.Response.StatusCode;
        var denied = status is 401 or 403 || context.Items.ContainsKey(DeniedKey);
        if (!denied && !caller.IsOversight)
        {
            return;
        }
        var action = context.GetEndpoint()?.DisplayName ?? $"{context.Request.Method} {context.Request.Path}";
        audit.Record(new AuditEntry(clock.GetUtcNow(), caller.Subject, caller.Role, action,
            $"{context.Request.Method} {context.Request.Path}", denied ? "denied" : status < 400 ? "ok" : "failed", status, null));
    }
}
