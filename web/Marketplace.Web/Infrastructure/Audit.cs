using System.Diagnostics;
using System.Threading.Channels;
using Npgsql;

namespace Marketplace.Web.Infrastructure;

/// <summary>Where an audited request came from.</summary>
internal sealed record RequestOrigin(string? Address, string? UserAgent, string? TraceId)
{
    private const int MaxUserAgent = 200;

    public static RequestOrigin Of(HttpContext context)
    {
        var agent = context.Request.Headers.UserAgent.ToString();
        return new RequestOrigin(context.Connection.RemoteIpAddress?.ToString(),
            agent.Length == 0 ? null : agent.Length > MaxUserAgent ? agent[..MaxUserAgent] : agent,
            Activity.Current?.TraceId.ToString() ?? context.TraceIdentifier);
    }
}

/// <summary>An action taken: by an admin or a regulator, or a change a user made to what is theirs.</summary>
internal sealed record AuditEntry(DateTimeOffset At, string Subject, string Role, string Action, string Resource, string Outcome, int StatusCode,
    string? Detail, RequestOrigin? Origin = null);

/// <summary>A refused request (401, 403, a 404 for another's id, a refused token request); counted, not written one by one.</summary>
internal sealed record Refusal(DateTimeOffset At, string Subject, string Caller, string Role, string Action, int StatusCode, string Resource,
    RequestOrigin Origin);

/// <summary>Marks an endpoint whose calls are not actions to audit (the market's hot path: its facts are in their own tables).</summary>
internal sealed class NotAudited;

/// <summary>
/// The audit trail. Actions are written in the background in batches, so auditing never slows a request, and none is
/// dropped. Refusals are counted per caller, action, status and minute and written once the minute has passed, so a
/// flood of refused requests (anonymous ones above all) costs a row per caller and minute, not a row each. The tables
/// are append-only (a trigger refuses any update or delete).
/// </summary>
internal sealed class AuditLog(NpgsqlDataSource db, ILogger<AuditLog> logger, [FromKeyedServices(Names.ClockKeys.Market)] TimeProvider clock) : BackgroundService
{
    /// <summary>Distinct refusal counts kept in memory at most; past it, further callers are counted together.</summary>
    public const int MaxRefusalCounts = 10_000;

    private const int MaxExample = 300;

    private static readonly TimeSpan RefusalWriteInterval = TimeSpan.FromSeconds(10);

    // Unbounded: every action a caller can take is rate limited, and none may be dropped.
    private readonly Channel<AuditEntry> _queue = Channel.CreateUnbounded<AuditEntry>();

    private readonly Dictionary<RefusalKey, RefusalCount> _refusals = [];

    // Held while a batch is taken from the queue and written, so a flush knows every entry recorded before it is stored.
    private readonly SemaphoreSlim _writing = new(1, 1);

    private sealed record RefusalKey(DateTimeOffset Minute, string Subject, string Caller, string Role, string Action, int StatusCode);

    private sealed class RefusalCount(string example, RequestOrigin origin)
    {
        public int Count;
        public string Example { get; } = example;
        public RequestOrigin Origin { get; } = origin;
    }

    public void Record(AuditEntry entry) => _queue.Writer.TryWrite(entry);

    public void Refuse(Refusal refusal)
    {
        var minute = new DateTimeOffset(refusal.At.Ticks - refusal.At.Ticks % TimeSpan.TicksPerMinute, refusal.At.Offset);
        var key = new RefusalKey(minute, refusal.Subject, refusal.Caller, refusal.Role, refusal.Action, refusal.StatusCode);
        lock (_refusals)
        {
            if (!_refusals.TryGetValue(key, out var count))
            {
                if (_refusals.Count >= MaxRefusalCounts)
                {
                    key = new RefusalKey(minute, "(many)", "(many)", "(many)", "(many)", refusal.StatusCode);
                }
                if (!_refusals.TryGetValue(key, out count))
                {
                    _refusals[key] = count = new RefusalCount(refusal.Resource.Length > MaxExample ? refusal.Resource[..MaxExample] : refusal.Resource,
                        refusal.Origin);
                }
            }
            count.Count++;
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(RefusalWriteInterval);
        var tick = timer.WaitForNextTickAsync(stoppingToken).AsTask();
        var queued = _queue.Reader.WaitToReadAsync(stoppingToken).AsTask();
        while (true)
        {
            var woken = await Task.WhenAny(tick, queued);
            if (!await woken)
            {
                return;
            }
            await _writing.WaitAsync(stoppingToken);
            try
            {
                // What is taken from memory is written even if the host is stopping: it is nowhere else.
                await WriteQueuedAsync(CancellationToken.None);
                if (woken == tick)
                {
                    await WriteRefusalsAsync(before: clock.GetUtcNow().AddMinutes(-1), CancellationToken.None);
                }
            }
            finally
            {
                _writing.Release();
            }
            if (woken == tick)
            {
                tick = timer.WaitForNextTickAsync(stoppingToken).AsTask();
            }
            else
            {
                queued = _queue.Reader.WaitToReadAsync(stoppingToken).AsTask();
            }
        }
    }

    /// <summary>What is still queued or counted when the host stops is written before the process ends.</summary>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        try
        {
            await base.StopAsync(cancellationToken);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // the background loop ends by cancellation
        }
        await FlushAsync(cancellationToken);
    }

    /// <summary>
    /// Writes everything recorded before the call, the refusals of the current minute included (used at shutdown and by
    /// tests that read the trail right after acting; readers add up the counts of a minute written in parts).
    /// </summary>
    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        await _writing.WaitAsync(cancellationToken);
        try
        {
            while (await WriteQueuedAsync(cancellationToken) > 0)
            {
            }
            await WriteRefusalsAsync(before: DateTimeOffset.MaxValue, cancellationToken);
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
        if (batch.Count == 0)
        {
            return 0;
        }
        try
        {
            await using var command = db.CreateCommand("""
                INSERT INTO audit_log (at, subject, role, action, resource, outcome, status_code, detail, address, user_agent, trace_id)
                SELECT * FROM unnest(@at, @subject, @role, @action, @resource, @outcome, @status, @detail, @address, @agent, @trace)
                """);
            command.Parameters.AddWithValue("at", batch.Select(e => e.At).ToArray());
            command.Parameters.AddWithValue("subject", batch.Select(e => e.Subject).ToArray());
            command.Parameters.AddWithValue("role", batch.Select(e => e.Role).ToArray());
            command.Parameters.AddWithValue("action", batch.Select(e => e.Action).ToArray());
            command.Parameters.AddWithValue("resource", batch.Select(e => e.Resource).ToArray());
            command.Parameters.AddWithValue("outcome", batch.Select(e => e.Outcome).ToArray());
            command.Parameters.AddWithValue("status", batch.Select(e => e.StatusCode).ToArray());
            command.Parameters.AddWithValue("detail", batch.Select(e => e.Detail).ToArray());
            command.Parameters.AddWithValue("address", batch.Select(e => e.Origin?.Address).ToArray());
            command.Parameters.AddWithValue("agent", batch.Select(e => e.Origin?.UserAgent).ToArray());
            command.Parameters.AddWithValue("trace", batch.Select(e => e.Origin?.TraceId).ToArray());
            await command.ExecuteNonQueryAsync(cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Not lost: back in the queue, for the next write once the database answers.
            logger.LogWarning("Could not write {Count} audit entries yet: {Error}", batch.Count, e.Message);
            foreach (var entry in batch)
            {
                _queue.Writer.TryWrite(entry);
            }
            return 0;
        }
        return batch.Count;
    }

    private async Task WriteRefusalsAsync(DateTimeOffset before, CancellationToken cancellationToken)
    {
        List<KeyValuePair<RefusalKey, RefusalCount>> due;
        lock (_refusals)
        {
            due = _refusals.Where(r => r.Key.Minute < before).ToList();
            foreach (var (key, _) in due)
            {
                _refusals.Remove(key);
            }
        }
        if (due.Count == 0)
        {
            return;
        }
        try
        {
            await using var command = db.CreateCommand("""
                INSERT INTO audit_refusals (minute, subject, caller, role, action, status_code, count, example, address, user_agent, trace_id)
                SELECT * FROM unnest(@minute, @subject, @caller, @role, @action, @status, @count, @example, @address, @agent, @trace)
                """);
            command.Parameters.AddWithValue("minute", due.Select(r => r.Key.Minute).ToArray());
            command.Parameters.AddWithValue("subject", due.Select(r => r.Key.Subject).ToArray());
            command.Parameters.AddWithValue("caller", due.Select(r => r.Key.Caller).ToArray());
            command.Parameters.AddWithValue("role", due.Select(r => r.Key.Role).ToArray());
            command.Parameters.AddWithValue("action", due.Select(r => r.Key.Action).ToArray());
            command.Parameters.AddWithValue("status", due.Select(r => r.Key.StatusCode).ToArray());
            command.Parameters.AddWithValue("count", due.Select(r => r.Value.Count).ToArray());
            command.Parameters.AddWithValue("example", due.Select(r => r.Value.Example).ToArray());
            command.Parameters.AddWithValue("address", due.Select(r => r.Value.Origin.Address).ToArray());
            command.Parameters.AddWithValue("agent", due.Select(r => r.Value.Origin.UserAgent).ToArray());
            command.Parameters.AddWithValue("trace", due.Select(r => r.Value.Origin.TraceId).ToArray());
            await command.ExecuteNonQueryAsync(cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning("Could not write {Count} refusal counts yet: {Error}", due.Count, e.Message);
            lock (_refusals)
            {
                foreach (var (key, count) in due)
                {
                    if (_refusals.TryGetValue(key, out var newer))
                    {
                        newer.Count += count.Count;
                    }
                    else
                    {
                        _refusals[key] = count;
                    }
                }
            }
        }
    }
}

internal sealed class AuditMiddleware(RequestDelegate next)
{
    private const string DeniedKey = "audit:denied";
    private const string DetailKey = "audit:detail";
    private const string OutcomeKey = "audit:outcome";

    /// <summary>
    /// Says what the action did, for the trail (a registration's verification state and changes, a regulator's decision),
    /// and how it ended where its status does not say (a request answered alike whatever happened).
    /// </summary>
    public static void Describe(HttpContext context, string detail, string? outcome = null)
    {
        context.Items[DetailKey] = detail;
        if (outcome is not null)
        {
            context.Items[OutcomeKey] = outcome;
        }
    }

    /// <summary>Marks the request as refused for ownership (answered 404 so ids cannot be probed).</summary>
    public static void MarkDenied(HttpContext context) => context.Items[DeniedKey] = true;

    /// <summary>What a request asked to do: its route ("POST /api/v1/providers/{id}/pools"), not its concrete path.</summary>
    public static string ActionOf(HttpContext context) => context.GetEndpoint() is RouteEndpoint route
        ? $"{context.Request.Method} {route.RoutePattern.RawText}"
        : $"{context.Request.Method} (no route)";

    public async Task InvokeAsync(HttpContext context, AuditLog audit, [FromKeyedServices(Names.ClockKeys.Market)] TimeProvider clock)
    {
        // Read now: the exception handler clears the endpoint of a request that failed.
        var action = ActionOf(context);
        var audited = context.GetEndpoint()?.Metadata.GetMetadata<NotAudited>() is null;
        try
        {
            await next(context);
        }
        catch (Exception e) when (!context.RequestAborted.IsCancellationRequested)
        {
            // A failure deep in the market is still an action taken: record the status the exception handler will answer.
            Record(context, audit, clock, action, audited, ProblemExceptionHandler.Map(e).Status);
            throw;
        }
        Record(context, audit, clock, action, audited, context.Response.StatusCode);
    }

    private static void Record(HttpContext context, AuditLog audit, TimeProvider clock, string action, bool audited, int status)
    {
        var path = context.Request.Path;
        if (!path.StartsWithSegments("/api") && !path.StartsWithSegments(Names.Hub.Path))
        {
            return;
        }
        var caller = Caller.Of(context);
        var resource = $"{context.Request.Method} {path}";
        if (status is 401 or 403 || context.Items.ContainsKey(DeniedKey))
        {
            audit.Refuse(new Refusal(clock.GetUtcNow(), caller.Subject, RateLimits.CallerKey(context), caller.Role, action, status, resource,
                RequestOrigin.Of(context)));
            return;
        }
        // On the hub, opening the connection is the action; its transport (every long poll, every send) is not, and would
        // put an entry in the trail for each push a regulator's dashboard receives.
        var hubTransport = path.StartsWithSegments(Names.Hub.Path) && !path.StartsWithSegments($"{Names.Hub.Path}/negotiate");
        var oversight = caller.IsOversight && !hubTransport;
        // What users change of their own (registrations, pools, prices, outages, cancellations) is on the trail too.
        var selfService = audited && path.StartsWithSegments("/api") && context.User.Identity?.IsAuthenticated == true
            && !HttpMethods.IsGet(context.Request.Method) && !HttpMethods.IsHead(context.Request.Method) && !HttpMethods.IsOptions(context.Request.Method);
        if (oversight || selfService)
        {
            var outcome = context.Items.TryGetValue(OutcomeKey, out var told) && told is string said ? said : status < 400 ? "ok" : "failed";
            audit.Record(new AuditEntry(clock.GetUtcNow(), caller.Subject, caller.Role, action, resource, outcome, status,
                context.Items.TryGetValue(DetailKey, out var detail) ? detail as string : null,
                RequestOrigin.Of(context)));
        }
    }
}
