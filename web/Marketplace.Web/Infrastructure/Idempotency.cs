using System.Security.Cryptography;
using Marketplace.Storage;
using Npgsql;

namespace Marketplace.Web.Infrastructure;

/// <summary>Marks an endpoint whose first response to an <c>Idempotency-Key</c> is stored and replayed.</summary>
internal sealed class IdempotentEndpoint;

internal sealed record StoredResponse(string RequestHash, int StatusCode, string? ContentType, byte[] Body, string? Location);

/// <summary>Responses to keyed requests, kept in PostgreSQL for 24 hours per caller and key.</summary>
internal sealed class IdempotencyStore(NpgsqlDataSource db, CommitBatcher writer, [FromKeyedServices(Names.ClockKeys.Market)] TimeProvider clock)
{
    public static readonly TimeSpan Retention = TimeSpan.FromHours(24);

    public async Task<StoredResponse?> FindAsync(string principal, string key, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand("""
            SELECT request_hash, status_code, content_type, body, location FROM idempotency_keys
            WHERE principal = @p AND key = @k AND created_at > @since
            """);
        command.Parameters.AddWithValue("p", principal);
        command.Parameters.AddWithValue("k", key);
        command.Parameters.AddWithValue("since", clock.GetUtcNow() - Retention);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? new StoredResponse(reader.GetString(0), reader.GetInt32(1), reader.IsDBNull(2) ? null : reader.GetString(2), (byte[])reader[3],
                reader.IsDBNull(4) ? null : reader.GetString(4))
            : null;
    }

    /// <summary>Stores the first response to a key (written with other writes of the moment, in one transaction).</summary>
    public Task StoreAsync(string principal, string key, StoredResponse response) =>
        writer.ExecuteAsync(new Statement("""
            WITH w AS (
                INSERT INTO idempotency_keys (principal, key, request_hash, status_code, content_type, body, location, created_at)
                VALUES (@p, @k, @h, @s, @c, @b, @l, @now)
                ON CONFLICT (principal, key) DO UPDATE SET request_hash = EXCLUDED.request_hash, status_code = EXCLUDED.status_code,
                    content_type = EXCLUDED.content_type, body = EXCLUDED.body, location = EXCLUDED.location, created_at = EXCLUDED.created_at
                WHERE idempotency_keys.created_at <= @since
                RETURNING 1)
            SELECT count(*)::int FROM w
            """,
            [
                new("p", principal), new("k", key), new("h", response.RequestHash), new("s", response.StatusCode),
                new("c", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)response.ContentType ?? DBNull.Value }, new("b", response.Body),
                new("l", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)response.Location ?? DBNull.Value },
                new("now", clock.GetUtcNow()), new("since", clock.GetUtcNow() - Retention),
            ]));

    public async Task<int> DeleteExpiredAsync(CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand("DELETE FROM idempotency_keys WHERE created_at <= @since");
        command.Parameters.AddWithValue("since", clock.GetUtcNow() - Retention);
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }
}

/// <summary>
/// For endpoints marked <see cref="IdempotentEndpoint"/>: a request that repeats a key with the same body gets the
/// stored first response; the same key with another body is refused with 422. The grains are idempotent by the same
/// key, so two copies racing in at once still have one effect.
/// </summary>
internal sealed class IdempotencyMiddleware(RequestDelegate next)
{
    public async Task InvokeAsync(HttpContext context, IdempotencyStore store)
    {
        var key = context.Request.Headers[Names.Headers.IdempotencyKey].ToString();
        if (context.GetEndpoint()?.Metadata.GetMetadata<IdempotentEndpoint>() is null || key.Length == 0
            || context.User.Identity?.IsAuthenticated != true)
        {
            await next(context);
            return;
        }
        if (key.Length > 100 || key.Any(c => c < 0x21 || c > 0x7e))
        {
            await Problems.Of(400, "invalid-idempotency-key", "The Idempotency-Key header must be 1-100 visible ASCII characters")
                .ExecuteAsync(context);
            return;
        }

        // Keys are the caller's in the role and for the tenant or provider it acts for: one person acting for two tenants
        // must not get one tenant's stored response when acting for the other.
        var caller = Caller.Of(context);
        var principal = $"{caller.Role}:{caller.TenantId ?? caller.ProviderId ?? "-"}:{caller.Subject}";
        context.Request.EnableBuffering();
        var hash = await HashAsync(context.Request, context.RequestAborted);
        if (await store.FindAsync(principal, key, context.RequestAborted) is { } stored)
        {
            if (stored.RequestHash != hash)
            {
                await Problems.Of(StatusCodes.Status422UnprocessableEntity, "idempotency-key-reused",
                    "This Idempotency-Key was already used with a different request").ExecuteAsync(context);
                return;
            }
            context.Response.StatusCode = stored.StatusCode;
            context.Response.ContentType = stored.ContentType;
            if (stored.Location is not null)
            {
                context.Response.Headers.Location = stored.Location;
            }
            context.Response.Headers["Idempotent-Replayed"] = "true";
            await context.Response.Body.WriteAsync(stored.Body, context.RequestAborted);
            return;
        }

        var original = context.Response.Body;
        await using var buffer = new MemoryStream();
        context.Response.Body = buffer;
        try
        {
            await next(context);
        }
        finally
        {
            context.Response.Body = original;
        }
        var status = context.Response.StatusCode;
        if (status is >= 200 and < 500 and not 408 and not 409 and not 429)
        {
            var location = context.Response.Headers.Location.ToString();
            await store.StoreAsync(principal, key, new StoredResponse(hash, status, context.Response.ContentType, buffer.ToArray(),
                location.Length > 0 ? location : null));
        }
        buffer.Position = 0;
        await buffer.CopyToAsync(original, context.RequestAborted);
    }

    private static async Task<string> HashAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(System.Text.Encoding.UTF8.GetBytes($"{request.Method} {request.Path}{request.QueryString}\n"));
        var chunk = new byte[8192];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            sha.AppendData(chunk, 0, read);
        }
        request.Body.Position = 0;
        return Convert.ToHexString(sha.GetHashAndReset());
    }
}

/// <summary>Deletes stored responses older than 24 hours, once an hour.</summary>
internal sealed class IdempotencyJanitor(IdempotencyStore store, ILogger<IdempotencyJanitor> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromHours(1));
        do
        {
            try
            {
                var deleted = await store.DeleteExpiredAsync(stoppingToken);
                if (deleted > 0)
                {
                    logger.LogInformation("Deleted {Count} idempotency records older than 24 hours", deleted);
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning(e, "Could not delete old idempotency records");
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }
}
