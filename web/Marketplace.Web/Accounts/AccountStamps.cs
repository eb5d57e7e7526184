using System.Collections.Concurrent;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using Microsoft.IdentityModel.Tokens;
using Npgsql;

namespace Marketplace.Web.Accounts;

/// <summary>
/// Ties an account's access tokens to its security stamp, which changes when its role changes, when it is locked and when
/// its second factor is turned on. A token carries a digest of the stamp it was issued under (the stamp itself is a
/// secret Identity derives other tokens from); the API refuses one whose digest is no longer the account's, or whose
/// account is gone or locked. The current digest is read through a cache of <see cref="CacheFor"/>: a change made on
/// this web node applies at once (it forgets the account), one made on another within that time.
/// A read that was under way when the account was forgotten may have read the stamp from before the change: it answers
/// its caller but is not remembered (<see cref="_forgets"/>), or it would put the old digest back for <see cref="CacheFor"/>.
/// </summary>
internal class AccountStamps(NpgsqlDataSource db, TimeProvider clock)
{
    /// <summary>The claim of an access token that carries the digest.</summary>
    public const string Claim = "stamp";

    /// <summary>How long an account's stamp is taken as read: the most a change made on another web node takes to apply.</summary>
    public static readonly TimeSpan CacheFor = TimeSpan.FromSeconds(5);

    /// <summary>Accounts remembered at most; past it the cache starts again (a burst of distinct accounts costs reads, not memory).</summary>
    private const int MaxAccounts = 100_000;

    private readonly ConcurrentDictionary<string, Remembered> _accounts = new();

    /// <summary>How many times an account was forgotten: a read remembers what it read only if none was forgotten meanwhile.</summary>
    private long _forgets;

    private sealed record Remembered(string? Digest, long ReadAt);

    /// <summary>The digest of a stamp, as a token carries it.</summary>
    public static string Digest(string? stamp) => Base64UrlEncoder.Encode(SHA256.HashData(Encoding.UTF8.GetBytes(stamp ?? "")).AsSpan(0, 16).ToArray());

    /// <summary>The digest of the account's stamp now, or null when the account is gone or locked.</summary>
    public async ValueTask<string?> CurrentAsync(string userId, CancellationToken cancellationToken)
    {
        if (_accounts.TryGetValue(userId, out var remembered) && clock.GetElapsedTime(remembered.ReadAt) < CacheFor)
        {
            return remembered.Digest;
        }
        var readAt = clock.GetTimestamp();
        var forgets = Interlocked.Read(ref _forgets);
        var digest = await ReadAsync(userId, cancellationToken);
        if (_accounts.Count >= MaxAccounts)
        {
            _accounts.Clear();
        }
        var entry = new Remembered(digest, readAt);
        _accounts[userId] = entry;
        // Checked after storing: a Forget that came before this check is seen here and the entry is taken back (only this
        // one: a newer read's entry stays); one that comes after it removes the entry itself.
        if (Interlocked.Read(ref _forgets) != forgets)
        {
            _accounts.TryRemove(KeyValuePair.Create(userId, entry));
        }
        return digest;
    }

    /// <summary>The account's digest as the database has it now (null: gone or locked).</summary>
    internal virtual async ValueTask<string?> ReadAsync(string userId, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand("""SELECT "SecurityStamp", coalesce("LockoutEnd" > @now, false) FROM account_users WHERE "Id" = @id""");
        command.Parameters.AddWithValue("id", userId);
        command.Parameters.AddWithValue("now", clock.GetUtcNow());
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) && !reader.GetBoolean(1) ? Digest(reader.IsDBNull(0) ? null : reader.GetString(0)) : null;
    }

    /// <summary>Why an account's token is refused (its account changed since it was issued), or null.</summary>
    public async ValueTask<string?> RefusalAsync(ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        var subject = user.FindFirst(Names.Claims.Subject)!.Value;
        var carried = user.FindFirst(Claim)?.Value;
        return carried is not null && carried == await CurrentAsync(subject, cancellationToken)
            ? null
            : "the account was changed, locked or removed after the token was issued";
    }

    /// <summary>Reads the account again at its next token: its stamp has just changed on this node.</summary>
    public void Forget(string userId)
    {
        // Counted first, so that a read that stores after the removal below sees it and takes its entry back.
        Interlocked.Increment(ref _forgets);
        _accounts.TryRemove(userId, out _);
    }
}
