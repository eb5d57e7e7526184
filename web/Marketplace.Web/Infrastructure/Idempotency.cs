using System.Security.Cryptography;
using Marketplace.Data;
using Npgsql;

namespace Marketplace.Web.Infrastructure;

/// <summary>Marks an endpoint whose first response to an <c>Idempotency-Key</c> is stored and replayed.</summary>
internal sealed class IdempotentEndpoint;

internal sealed record StoredResponse(string RequestHash, int StatusCode, string? ContentType, byte[] Body, string? Location);

/// <summary>What a key holds when a request arrives with it.</summary>
internal abstract record KeyState
{
    /// <summary>The key was free (or its record expired or was abandoned): this request runs, under this claim.</summary>
    public sealed record Claimed(Guid Claim) : KeyState;

    /// <summary>Another request with the key is running.</summary>
    public sealed record InFlight : KeyState;

    /// <summary>A request with the key ran and its response is kept.</summary>
    public sealed record Answered(StoredResponse Response) : KeyState;
}

/// <summary>
/// Responses to keyed requests, kept in PostgreSQL for 24 hours per caller and key. A request claims its key before it
/// runs, so two requests with one key never both run, whether their bodies are the same or not.
/// </summary>
internal sealed class IdempotencyStore(NpgsqlDataSource db, CommitBatcher writer, [FromKeyedServices(Names.ClockKeys.Market)] TimeProvider clock)
{
    public static readonly TimeSpan Retention = TimeSpan.FromHours(24);

    /// <summary>
    /// A claim older than this belongs to a request that will never finish (its process died, or its response could not
    /// be kept): the key can be claimed again. Far longer than any request runs (grain calls time out after seconds).
    /// </summary>
    public static readonly TimeSpan AbandonedAfter = TimeSpan.FromSeconds(30);

    /// <summary>Keys are the caller's in the role and for the tenant or provider it acts for.</summary>
    public static string Principal(Caller caller) => $"{caller.Role}:{caller.TenantId ?? caller.ProviderId ?? "-"}:{caller.Subject}";

    public async Task<KeyState> ClaimAsync(string principal, string key, string requestHash, CancellationToken cancellationToken)
    {
        var claim = Guid.NewGuid();
        var now = clock.GetUtcNow();
        await using (var command = db.CreateCommand("""
            INSERT INTO idempotency_keys (principal, key, request_hash, status_code, content_type, body, location, created_at, in_flight)
            VALUES (@p, @k, @h, 0, NULL, ''::bytea, NULL, @now, @claim)
            ON CONFLICT (principal, key) DO UPDATE SET request_hash = EXCLUDED.request_hash, status_code = 0, content_type = NULL,
                body = EXCLUDED.body, location = NULL, created_at = EXCLUDED.created_at, in_flight = EXCLUDED.in_flight
            WHERE idempotency_keys.created_at <= @expired OR idempotency_keys.in_flight IS NOT NULL AND idempotency_keys.created_at <= @abandoned
            RETURNING 1
            """))
        {
            command.Parameters.AddWithValue("p", principal);
            command.Parameters.AddWithValue("k", key);
            command.Parameters.AddWithValue("h", requestHash);
            command.Parameters.AddWithValue("now", now);
            command.Parameters.AddWithValue("claim", claim);
            command.Parameters.AddWithValue("expired", now - Retention);
            command.Parameters.AddWithValue("abandoned", now - AbandonedAfter);
            if (await command.ExecuteScalarAsync(cancellationToken) is not null)
            {
                return new KeyState.Claimed(claim);
            }
        }
        await using var read = db.CreateCommand(
            "SELECT request_hash, status_code, content_type, body, location, in_flight IS NOT NULL FROM idempotency_keys WHERE principal = @p AND key = @k");
        read.Parameters.AddWithValue("p", principal);
        read.Parameters.AddWithValue("k", key);
        await using var reader = await read.ExecuteReaderAsync(cancellationToken);
        // Gone between the two statements: the request that held it gave it back a moment ago; it is in flight for this one.
        if (!await reader.ReadAsync(cancellationToken) || reader.GetBoolean(5))
        {
            return new KeyState.InFlight();
        }
        return new KeyState.Answered(new StoredResponse(reader.GetString(0), reader.GetInt32(1), reader.IsDBNull(2) ? null : reader.GetString(2),
            (byte[])reader[3], reader.IsDBNull(4) ? null : reader.GetString(4)));
    }

    /// <summary>Keeps the response of a claimed key (written with other writes of the moment, in one transaction).</summary>
    public Task KeepAsync(string principal, string key, Guid claim, StoredResponse response) =>
        writer.ExecuteAsync(new Statement("""
            WITH w AS (
                UPDATE idempotency_keys SET status_code = @s, content_type = @c, body = @b, location = @l, in_flight = NULL
                WHERE principal = @p AND key = @k AND in_flight = @claim
                RETURNING 1)
            SELECT count(*)::int FROM w
            """,
            [
                new("p", principal), new("k", key), new("claim", claim), new("s", response.StatusCode),
                new("c", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)response.ContentType ?? DBNull.Value }, new("b", response.Body),
                new("l", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)response.Location ?? DBNull.Value },
            ]));

    /// <summary>Gives a claimed key back when its response is not one to replay (a 5xx, 408, 409 or 429): a retry runs afresh.</summary>
    public Task ReleaseAsync(string principal, string key, Guid claim) =>
        writer.ExecuteAsync(new Statement("""
            WITH w AS (DELETE FROM idempotency_keys WHERE principal = @p AND key = @k AND in_flight = @claim RETURNING 1)
            SELECT count(*)::int FROM w
            """,
            [new("p", principal), new("k", key), new("claim", claim)]));

    public async Task<int> DeleteExpiredAsync(CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand("DELETE FROM idempotency_keys WHERE created_at <= @since");
        command.Parameters.AddWithValue("since", clock.GetUtcNow() - Retention);
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }
}

/// <summary>
/// For endpoints marked <see cref="IdempotentEndpoint"/>: a request that repeats a key with the same body gets the
/// stored first response; the same key with another body is refused with 422; a key whose first request is still
/// running is refused with 409 and Retry-After. The grains are idempotent by the same key besides.
/// </summary>
internal sealed class IdempotencyMiddleware(RequestDelegate next)
{
    public async Task InvokeAsync(HttpContext context, IdempotencyStore store, ILogger<IdempotencyMiddleware> logger)
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

        // One person acting for two tenants must not get one tenant's stored response when acting for the other.
        var principal = IdempotencyStore.Principal(Caller.Of(context));
        context.Request.EnableBuffering();
        var hash = await HashAsync(context.Request, context.RequestAborted);
        switch (await store.ClaimAsync(principal, key, hash, context.RequestAborted))
        {
            case KeyState.InFlight:
                context.Response.Headers.RetryAfter = "1";
                await Problems.Of(StatusCodes.Status409Conflict, "idempotency-key-in-flight",
                    "A request with this Idempotency-Key is still running; retry to get its answer").ExecuteAsync(context);
                return;
            case KeyState.Answered { Response: var stored } when stored.RequestHash != hash:
                await Problems.Of(StatusCodes.Status422UnprocessableEntity, "idempotency-key-reused",
                    "This Idempotency-Key was already used with a different request").ExecuteAsync(context);
                return;
            case KeyState.Answered { Response: var stored }:
                context.Response.StatusCode = stored.StatusCode;
                context.Response.ContentType = stored.ContentType;
                if (stored.Location is not null)
                {
                    context.Response.Headers.Location = stored.Location;
                }
                context.Response.Headers["Idempotent-Replayed"] = "true";
                await context.Response.Body.WriteAsync(stored.Body, context.RequestAborted);
                return;
            case KeyState.Claimed { Claim: var claim }:
                await RunClaimedAsync(context, store, logger, principal, key, hash, claim);
                return;
        }
    }

    private async Task RunClaimedAsync(HttpContext context, IdempotencyStore store, ILogger logger, string principal, string key, string hash, Guid claim)
    {
        var original = context.Response.Body;
        await using var buffer = new MemoryStream();
        context.Response.Body = buffer;
        try
        {
            await next(context);
        }
        catch (Exception failure)
        {
            try
            {
                await store.ReleaseAsync(principal, key, claim);
            }
            catch (Exception e) when (Problems.IsTransient(e))
            {
                // The request's own failure is what the client hears about; the claim lapses after AbandonedAfter.
                logger.LogWarning("Could not give back the Idempotency-Key of a failed request ({Failure}): {Error}", failure.Message, e.Message);
            }
            throw;
        }
        finally
        {
            context.Response.Body = original;
        }
        var status = context.Response.StatusCode;
        if (status is >= 200 and < 500 and not 408 and not 409 and not 429)
        {
            var location = context.Response.Headers.Location.ToString();
            await store.KeepAsync(principal, key, claim, new StoredResponse(hash, status, context.Response.ContentType, buffer.ToArray(),
                location.Length > 0 ? location : null));
        }
        else
        {
            await store.ReleaseAsync(principal, key, claim);
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
