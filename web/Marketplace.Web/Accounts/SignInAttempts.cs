using Microsoft.AspNetCore.Identity;
using Npgsql;
using NpgsqlTypes;

namespace Marketplace.Web.Accounts;

/// <summary>What counting one sign-in attempt found.</summary>
/// <param name="WasLocked">The account was locked before this attempt: it is refused whatever it carries.</param>
/// <param name="LockedUntil">Set when this attempt reached the limit and locked the account (it is still let through if it is right).</param>
internal sealed record CountedAttempt(bool WasLocked, DateTimeOffset? LockedUntil)
{
    /// <summary>How a refused attempt ended and why, for the audit trail ("wrong password", say; an attempt on no account counts nothing).</summary>
    public static (string Outcome, string Reason) Refused(CountedAttempt? attempt, string wrong, string noAccount) =>
        attempt is null ? ("failed", noAccount)
        : attempt.WasLocked ? ("locked-out", "the account is locked")
        : attempt.LockedUntil is not null ? ("locked-out", $"{wrong}; the account is now locked")
        : ("failed", wrong);
}

/// <summary>
/// The failure count behind lockout, kept by the database. Identity counted a failure by writing back the user row it
/// had read, guarded by its concurrency stamp: attempts made at the same moment each read the same count and all but
/// one lost the write, so twenty guesses in parallel counted as one or two. Here every attempt (a password or a second
/// factor's code) is counted before it is checked, in one UPDATE that also locks the account when the count reaches
/// <see cref="AccountsSetup.MaxFailedSignIns"/>; only a complete sign-in resets it. An attempt on a locked account
/// changes nothing and is refused without its password being looked at.
/// </summary>
internal sealed class SignInAttempts(NpgsqlDataSource db, IPasswordHasher<MarketplaceUser> hasher, AccountStamps stamps, TimeProvider clock)
{
    // What an unknown or locked account's attempt is checked against, so that every refusal costs a hash: an answer that
    // came sooner would tell that the email has no account, or that it is locked. Made by the hasher in use, so it costs
    // what the accounts' hashes cost.
    private static string? _dummyHash;

    /// <summary>Counts an attempt on the account (null or an id no account has: nothing is counted, and the answer is null).</summary>
    public async Task<CountedAttempt?> CountAsync(string? userId, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        // The row is locked first (FOR UPDATE reads its newest version), so attempts on one account are counted one after
        // another. A lockout that has ended starts the count again, as Identity's does.
        await using var command = db.CreateCommand("""
            WITH before AS (
                SELECT "Id", coalesce("LockoutEnd" > @now, false) AS locked,
                       CASE WHEN "LockoutEnd" IS NULL THEN "AccessFailedCount" ELSE 0 END + 1 AS failures,
                       "LockoutEnabled" AND CASE WHEN "LockoutEnd" IS NULL THEN "AccessFailedCount" ELSE 0 END + 1 >= @max AS reaches
                FROM account_users WHERE "Id" = @id FOR UPDATE)
            UPDATE account_users AS u SET
                "AccessFailedCount" = CASE WHEN before.locked THEN u."AccessFailedCount" ELSE before.failures END,
                "LockoutEnd" = CASE WHEN before.locked THEN u."LockoutEnd" WHEN before.reaches THEN @until END,
                -- A lockout ends what the account's tokens could do (AccountStamps).
                "SecurityStamp" = CASE WHEN NOT before.locked AND before.reaches THEN @stamp ELSE u."SecurityStamp" END,
                "ConcurrencyStamp" = CASE WHEN before.locked THEN u."ConcurrencyStamp" ELSE @concurrency END
            FROM before WHERE u."Id" = before."Id"
            RETURNING before.locked, CASE WHEN NOT before.locked THEN u."LockoutEnd" END
            """);
        command.Parameters.AddWithValue("id", userId ?? "");
        command.Parameters.AddWithValue("now", now);
        command.Parameters.AddWithValue("max", AccountsSetup.MaxFailedSignIns);
        command.Parameters.AddWithValue("until", now + AccountsSetup.LockoutDuration);
        command.Parameters.AddWithValue("stamp", Guid.NewGuid().ToString("N").ToUpperInvariant());
        command.Parameters.AddWithValue("concurrency", Guid.NewGuid().ToString());
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }
        var attempt = new CountedAttempt(reader.GetBoolean(0), reader.IsDBNull(1) ? null : reader.GetFieldValue<DateTimeOffset>(1));
        if (attempt.LockedUntil is not null)
        {
            stamps.Forget(userId!);
        }
        return attempt;
    }

    /// <summary>
    /// Whether the password is the account's. An unknown account (null) or one whose attempt was refused for a lockout is
    /// checked against a dummy hash and is never right, so that each costs what a wrong password costs.
    /// </summary>
    public bool PasswordMatches(MarketplaceUser? user, CountedAttempt? attempt, string password)
    {
        var real = user is { PasswordHash: not null } && attempt is { WasLocked: false };
        var dummy = _dummyHash ??= hasher.HashPassword(new MarketplaceUser(), Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)));
        // A hash that wants rehashing (older parameters) still matches; it is not rewritten here, the count's UPDATE owns the row.
        var result = hasher.VerifyHashedPassword(user ?? new MarketplaceUser(), real ? user!.PasswordHash! : dummy, password);
        return real && result != PasswordVerificationResult.Failed;
    }

    /// <summary>
    /// The one code attempt a right password earns when it was the attempt that locked the account (<paramref name="ownLockout"/>
    /// is the lockout it set): the lockout is moved on by a microsecond, so that this chance is taken once however often
    /// the sign-in session is replayed. A locked attempt when it was taken already, or the lockout is not that one any more.
    /// </summary>
    public async Task<CountedAttempt> LastChanceAsync(string userId, DateTimeOffset ownLockout, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand("""
            UPDATE account_users SET "LockoutEnd" = "LockoutEnd" + interval '1 microsecond'
            WHERE "Id" = @id AND "LockoutEnd" = @own RETURNING "LockoutEnd"
            """);
        command.Parameters.AddWithValue("id", userId);
        command.Parameters.AddWithValue("own", ownLockout);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? new CountedAttempt(WasLocked: false, LockedUntil: reader.GetFieldValue<DateTimeOffset>(0))
            : new CountedAttempt(WasLocked: true, LockedUntil: null);
    }

    /// <summary>
    /// Takes a right second-factor code for the account: false when the account accepted the same code within
    /// <see cref="AccountsSetup.CodeValidity"/> (a code seen once, on the wire or over a shoulder, does not sign in again).
    /// </summary>
    public async Task<bool> UseCodeAsync(string userId, string code, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        await using var command = db.CreateCommand("""
            UPDATE account_users SET last_code_hash = @hash, last_code_at = @now
            WHERE "Id" = @id AND (last_code_hash IS DISTINCT FROM @hash OR last_code_at <= @since)
            """);
        command.Parameters.AddWithValue("id", userId);
        // Salted by the account, so equal codes of two accounts do not look alike.
        command.Parameters.AddWithValue("hash", Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes($"{userId}:{code}"))));
        command.Parameters.AddWithValue("now", now);
        command.Parameters.AddWithValue("since", now - AccountsSetup.CodeValidity);
        return await command.ExecuteNonQueryAsync(cancellationToken) == 1;
    }

    /// <summary>
    /// A complete sign-in: the count starts again. False when the account was locked meanwhile by other attempts (this
    /// attempt's own lockout aside): then it is refused as any attempt on a locked account.
    /// </summary>
    public async Task<bool> SucceededAsync(string userId, CountedAttempt attempt, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand("""
            UPDATE account_users SET "AccessFailedCount" = 0, "LockoutEnd" = NULL, "ConcurrencyStamp" = @concurrency
            WHERE "Id" = @id AND ("LockoutEnd" IS NULL OR "LockoutEnd" <= @now OR "LockoutEnd" = @own)
            """);
        command.Parameters.AddWithValue("id", userId);
        command.Parameters.AddWithValue("now", clock.GetUtcNow());
        command.Parameters.Add(new NpgsqlParameter("own", NpgsqlDbType.TimestampTz) { Value = (object?)attempt.LockedUntil ?? DBNull.Value });
        command.Parameters.AddWithValue("concurrency", Guid.NewGuid().ToString());
        return await command.ExecuteNonQueryAsync(cancellationToken) == 1;
    }
}
