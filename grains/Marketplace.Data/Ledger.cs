using System.Text;
using Npgsql;
using NpgsqlTypes;

namespace Marketplace.Data;

/// <summary>
/// Ledger account names. A balance is the sum of an account's entries; a positive balance holds value.
/// <list type="bullet">
/// <item><c>program:P:funding</c> is the (negative) source of the program's budget; <c>program:P:budget</c> what is not yet issued;
/// <c>program:P:payable</c> what the program owes providers for voucher-paid rentals.</item>
/// <item><c>voucher:V:available</c>, <c>voucher:V:held</c>, <c>voucher:V:spent</c> split a voucher's face value.</item>
/// <item><c>provider:X:receivable</c> what a provider has earned; <c>tenant:T:payable</c> (negative) the cash a tenant owed
/// before cash was prepaid (rule 8).</item>
/// <item><c>tenant:T:cash</c> a company's prepaid cash it can spend, <c>tenant:T:cash-held</c> what is held for its
/// reservations; <c>payments:external</c> (negative) the money received from outside less what was paid out.</item>
/// </list>
/// </summary>
public static class Accounts
{
    public static string ProgramFunding(string programId) => $"program:{programId}:funding";
    public static string ProgramBudget(string programId) => $"program:{programId}:budget";
    public static string ProgramPayable(string programId) => $"program:{programId}:payable";
    public static string VoucherAvailable(string voucherId) => $"voucher:{voucherId}:available";
    public static string VoucherHeld(string voucherId) => $"voucher:{voucherId}:held";
    public static string VoucherSpent(string voucherId) => $"voucher:{voucherId}:spent";
    public static string ProviderReceivable(string providerId) => $"provider:{providerId}:receivable";
    public static string TenantPayable(string tenantId) => $"tenant:{tenantId}:payable";
    public static string TenantCash(string tenantId) => $"tenant:{tenantId}:cash";
    public static string TenantCashHeld(string tenantId) => $"tenant:{tenantId}:cash-held";
    public const string PaymentsExternal = "payments:external";
}

/// <summary>
/// One balanced ledger transaction. Its <see cref="Id"/> is derived from the business key (e.g.
/// <c>hold:V:R</c>), so posting it twice is impossible: the primary key refuses the second.
/// </summary>
public sealed record LedgerPosting(
    string Id,
    string Kind,
    string Description,
    IReadOnlyList<(string Account, long AmountFen)> Entries,
    string? ProgramId = null,
    string? VoucherId = null,
    string? ReservationId = null)
{
    /// <summary>Moves <paramref name="amountFen"/> from one account to another.</summary>
    public static LedgerPosting Transfer(string id, string kind, string description, string from, string to, long amountFen,
        string? programId = null, string? voucherId = null, string? reservationId = null) =>
        new(id, kind, description, [(to, amountFen), (from, checked(-amountFen))], programId, voucherId, reservationId);

    public LedgerPosting WithoutZeroEntries() => this with { Entries = Entries.Where(e => e.AmountFen != 0).ToList() };
}

/// <summary>
/// Builds one SQL statement of data-modifying CTEs: a guard (usually a version-checked UPDATE returning one row)
/// followed by writes and ledger postings that happen only if the guard matched. One statement is one atomic step and
/// one round trip; the ledger's balance trigger checks every posting at commit.
/// </summary>
public sealed class GuardedWrite
{
    private readonly StringBuilder _sql = new();
    private readonly List<NpgsqlParameter> _parameters = [];
    private int _ctes;

    /// <summary>The CTE the writes select from: the first guard, or the last one <see cref="Narrow"/> added.</summary>
    public string Guard { get; private set; } = "g";

    /// <param name="guard">Builds the guard's SQL; it may add parameters through <see cref="Parameter"/>.</param>
    public GuardedWrite(Func<GuardedWrite, string> guard)
    {
        _sql.Append("WITH g AS (").Append(guard(this)).Append(')');
    }

    /// <summary>Adds a parameter and returns its placeholder.</summary>
    public string Parameter(object? value, NpgsqlDbType? type = null)
    {
        var name = $"p{_parameters.Count}";
        var parameter = type is { } t ? new NpgsqlParameter(name, t) { Value = value ?? DBNull.Value } : new NpgsqlParameter(name, value ?? DBNull.Value);
        _parameters.Add(parameter);
        return "@" + name;
    }

    /// <summary>
    /// Adds a further guard, built from the name of the guard before it (a write that returns a row only when it matched);
    /// the writes added after it, the ledger postings and the statement's result depend on it instead.
    /// </summary>
    public GuardedWrite Narrow(Func<string, string> guard)
    {
        var name = $"g{_ctes++}";
        _sql.Append(", ").Append(name).Append(" AS (").Append(guard(Guard)).Append(')');
        Guard = name;
        return this;
    }

    /// <summary>Adds a write that must select <c>FROM g</c> (or join it) so it runs only when the guard matched.</summary>
    public GuardedWrite Then(string sql)
    {
        _sql.Append(", w").Append(_ctes++).Append(" AS (").Append(sql).Append(')');
        return this;
    }

    public GuardedWrite Post(LedgerPosting posting, DateTimeOffset at)
    {
        posting = posting.WithoutZeroEntries();
        if (posting.Entries.Count == 0)
        {
            return this;
        }
        var t = $"t{_ctes++}";
        _sql.Append(", ").Append(t).Append(" AS (INSERT INTO ledger_transactions (id, kind, program_id, voucher_id, reservation_id, description, posted_at) SELECT ")
            .Append(Parameter(posting.Id)).Append(", ").Append(Parameter(posting.Kind)).Append(", ")
            .Append(Parameter(posting.ProgramId, NpgsqlDbType.Text)).Append(", ").Append(Parameter(posting.VoucherId, NpgsqlDbType.Text)).Append(", ")
            .Append(Parameter(posting.ReservationId, NpgsqlDbType.Text)).Append(", ").Append(Parameter(posting.Description)).Append(", ")
            .Append(Parameter(at)).Append(" FROM ").Append(Guard).Append(" RETURNING id)");
        _sql.Append(", e").Append(_ctes++).Append(" AS (INSERT INTO ledger_entries (transaction_id, line, account, amount_fen) SELECT ")
            .Append(t).Append(".id, x.line, x.account, x.amount FROM ").Append(t).Append(", unnest(")
            .Append(Parameter(posting.Entries.Select(e => e.Account).ToArray())).Append("::text[], ")
            .Append(Parameter(posting.Entries.Select(e => e.AmountFen).ToArray())).Append("::bigint[]) WITH ORDINALITY AS x(account, amount, line))");
        return this;
    }

    /// <summary>
    /// The whole write as one statement returning how many rows the guard matched (0: nothing was written); in the lane of
    /// the company whose rows it writes, if any (<see cref="Statement.Lane"/>).
    /// </summary>
    public Statement ToStatement(string? lane = null) => new(_sql + $" SELECT count(*)::int FROM {Guard}", _parameters) { Lane = lane };

    /// <summary>Runs the statement inside the caller's transaction.</summary>
    public async Task<int> ExecuteAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken = default)
    {
        await using var command = new NpgsqlCommand(_sql + $" SELECT count(*)::int FROM {Guard}", connection, transaction);
        command.Parameters.AddRange(_parameters.Select(p => p.Clone()).ToArray());
        return (int)(await command.ExecuteScalarAsync(cancellationToken))!;
    }
}

public static class LedgerWriter
{
    /// <summary>Posts a transaction on its own, once: a second post with the same id is a no-op. Returns whether it posted.</summary>
    public static async Task<bool> PostOnceAsync(NpgsqlDataSource db, CommitBatcher? writer, LedgerPosting posting, DateTimeOffset at)
    {
        var write = new GuardedWrite(w =>
            $"SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM ledger_transactions WHERE id = {w.Parameter(posting.Id)})");
        write.Post(posting, at);
        try
        {
            return await CommitBatcher.RunAsync(writer, db, write.ToStatement()) == 1;
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            return false; // posted at the same moment by another attempt
        }
    }
}
