using Marketplace.Data;
using Npgsql;

namespace Marketplace.Web.Queries;

/// <summary>A program in the list: <see cref="BudgetFen"/> is its budget now (the definition's plus every raise).</summary>
public sealed record ProgramSummary(string Id, string Name, string Province, ProgramDefinition Definition, long IssuedFen, long ReturnedFen, DateTimeOffset CreatedAt,
    long BudgetFen, DateTimeOffset? ClosedAt, string? CloseReason);

/// <summary>Which of a program's ledger transactions to show: of one kind, posted in [From, To); a value left out does not narrow.</summary>
public sealed record LedgerFilter(string? Kind, DateTimeOffset? From, DateTimeOffset? To)
{
    /// <summary>The SQL condition on <c>ledger_transactions</c>, with parameters @p (program), @kind, @from and @to.</summary>
    internal const string Where = "program_id = @p AND (@kind::text IS NULL OR kind = @kind) " +
        "AND (@from::timestamptz IS NULL OR posted_at >= @from) AND (@to::timestamptz IS NULL OR posted_at < @to)";

    internal void AddTo(NpgsqlParameterCollection parameters, string programId)
    {
        parameters.AddWithValue("p", programId);
        parameters.AddWithValue("kind", NpgsqlTypes.NpgsqlDbType.Text, (object?)Kind ?? DBNull.Value);
        parameters.AddWithValue("from", NpgsqlTypes.NpgsqlDbType.TimestampTz, (object?)From?.ToUniversalTime() ?? DBNull.Value);
        parameters.AddWithValue("to", NpgsqlTypes.NpgsqlDbType.TimestampTz, (object?)To?.ToUniversalTime() ?? DBNull.Value);
    }
}

/// <summary>Which audit entries to show: by who, what action, what outcome, in [From, To); a value left out does not narrow.</summary>
public sealed record AuditFilter(string? Subject, string? Action, string? Outcome, DateTimeOffset? From, DateTimeOffset? To)
{
    /// <summary>The longest value a filter field may name.</summary>
    public const int MaxFieldLength = 300;
}

/// <summary>A registration in the programme office's queue: as registered now, and what changed since it was last verified.</summary>
public sealed record CompanyReviewView(string Party, string Id, string Name, string? CreditCode, CompanyState State, int Revision,
    System.Text.Json.JsonElement Registration, IReadOnlyList<CompanyChange> Changes, string? Reason, string? ReviewedBy, DateTimeOffset? ReviewedAt,
    DateTimeOffset UpdatedAt);

public sealed record LedgerEntryView(string Account, long AmountFen);

public sealed record LedgerTransactionView(string Id, long Sequence, string Kind, string? VoucherId, string? ReservationId, string Description,
    DateTimeOffset PostedAt, IReadOnlyList<LedgerEntryView> Entries);

/// <summary>One page of a program's ledger, oldest first, with the program's account balances over all pages.</summary>
public sealed record LedgerPage(string ProgramId, int Page, int PageSize, long TotalTransactions, IReadOnlyList<LedgerTransactionView> Transactions,
    IReadOnlyDictionary<string, long> Balances);

public sealed record CountAndAmount(string Key, int Vouchers, long IssuedFen, long SpentFen);

/// <summary>
/// How reliably a provider delivers what it sold, over the last <see cref="WindowDays"/> days (<see cref="Reliability"/>):
/// of the GPU-hours booked on its capacity (reservations confirmed, running, completed or interrupted; a tenant's
/// cancellation does not count against it), how many its outages took away, and the score in basis points delivered, or
/// null while the provider is new (fewer than <see cref="MinimumGpuHours"/> GPU-hours booked).
/// </summary>
public sealed record ProviderReliability(
    string ProviderId,
    long Reservations,
    long Interrupted,
    long BookedGpuHours,
    long LostGpuHours,
    int? ScoreBasisPoints,
    int WindowDays,
    long MinimumGpuHours);

/// <summary>
/// How a program's money is taken up: vouchers by state, money by where it is, who claims and how fast they register, and
/// the compute its vouchers funded: <see cref="FundedGpuHours"/> of the reservations a voucher of the program pays for (its
/// coverage share of them), over the hours not given back; <see cref="FundedTflopsHours"/> the same in TFLOPS-hours
/// (thousandths of a PFLOPS-hour) of the models with a published figure, the <see cref="FundedGpuHoursWithoutTflops"/> of
/// the others not counted in it.
/// </summary>
public sealed record TakeUp(
    string ProgramId,
    string Name,
    string Province,
    long BudgetFen,
    IReadOnlyDictionary<string, int> VouchersByState,
    long IssuedFen,
    long HeldFen,
    long SpentFen,
    long ReturnedFen,
    long RemainingBudgetFen,
    IReadOnlyList<CountAndAmount> ByProvince,
    IReadOnlyList<CountAndAmount> ByTenantKind,
    IReadOnlyDictionary<int, int> DaysToRegistration,
    DateTimeOffset At,
    long FundedGpuHours,
    long FundedTflopsHours,
    long FundedGpuHoursWithoutTflops);

public sealed record AuditView(long Id, DateTimeOffset At, string Subject, string Role, string Action, string Resource, string Outcome, int StatusCode,
    string? Address, string? UserAgent, string? TraceId, string? Detail = null);

/// <summary>Refused requests of one caller, action and status in one minute; the address, user agent and trace id are of one of them.</summary>
public sealed record RefusalView(DateTimeOffset Minute, string Subject, string Caller, string Role, string Action, int StatusCode, long Count,
    string Example, string? Address, string? UserAgent, string? TraceId = null);

/// <summary>The queries the web tier answers straight from PostgreSQL: lists, the ledger, take-up and the audit trail.</summary>
public sealed class ReadModels(NpgsqlDataSource db, [FromKeyedServices(Names.ClockKeys.Market)] TimeProvider clock)
{
    public async Task<IReadOnlyList<ProgramSummary>> ProgramsAsync(CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand(
            "SELECT id, name, province, definition::text, issued_fen, returned_fen, created_at, budget_fen, closed_at, close_reason FROM programs ORDER BY id");
        return await ReadAsync(command, r => new ProgramSummary(r.GetString(0), r.GetString(1), r.GetString(2),
            StateJson.Deserialize<ProgramDefinition>(r.GetString(3)), r.GetInt64(4), r.GetInt64(5), r.GetFieldValue<DateTimeOffset>(6),
            r.GetInt64(7), r.IsDBNull(8) ? null : r.GetFieldValue<DateTimeOffset>(8), NullableString(r, 9)), cancellationToken);
    }

    /// <summary>
    /// The tenant's latest bids, newest first: its model bids and its good-till-cancelled compute bids, each of those as
    /// the try that filled it if it filled. The tries themselves are shown only through their compute bid. A row whose
    /// public view is not written yet (a compute bid from before the views, until a silo has started) is not listed.
    /// </summary>
    public async Task<IReadOnlyList<BidView>> BidsOfTenantAsync(string tenantId, int limit, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand("""
            SELECT view_json::text FROM bids
            WHERE tenant_id = @t AND view_json IS NOT NULL AND view_json ->> 'computeBidId' IS NULL ORDER BY created_at DESC, id LIMIT @l
            """);
        command.Parameters.AddWithValue("t", tenantId);
        command.Parameters.AddWithValue("l", limit);
        var bids = await ReadAsync(command, r => StateJson.Deserialize<BidView>(r.GetString(0)), cancellationToken);
        await using var compute = db.CreateCommand("""
            SELECT c.view_json::text, f.view_json::text FROM compute_bids c LEFT JOIN bids f ON f.id = c.filled_bid_id
            WHERE c.tenant_id = @t AND c.view_json IS NOT NULL ORDER BY c.created_at DESC, c.id LIMIT @l
            """);
        compute.Parameters.AddWithValue("t", tenantId);
        compute.Parameters.AddWithValue("l", limit);
        var computeBids = await ReadAsync(compute, r =>
        {
            var own = StateJson.Deserialize<BidView>(r.GetString(0));
            return r.IsDBNull(1) ? own : ComputeBidViews.FilledAs(own.Id, own.ComputeOrder!, own.Version, StateJson.Deserialize<BidView>(r.GetString(1)));
        }, cancellationToken);
        return bids.Concat(computeBids).OrderByDescending(b => b.CreatedAt).ThenBy(b => b.Id, StringComparer.Ordinal).Take(limit).ToList();
    }

    public Task<IReadOnlyList<ReservationView>> ReservationsOfTenantAsync(string tenantId, int limit, CancellationToken cancellationToken) =>
        ReservationsAsync("tenant_id", tenantId, limit, cancellationToken);

    public Task<IReadOnlyList<ReservationView>> ReservationsOfProviderAsync(string providerId, int limit, CancellationToken cancellationToken) =>
        ReservationsAsync("provider_id", providerId, limit, cancellationToken);

    public async Task<ProviderReliability> ReliabilityAsync(string providerId, MarketLimits limits, CancellationToken cancellationToken)
    {
        var from = Reliability.WindowStartHour(Hours.Floor(clock.GetUtcNow()), limits);
        var delivery = await ProviderDelivery.ReadAsync(db, providerId, from, cancellationToken);
        return new ProviderReliability(providerId, delivery.Reservations, delivery.Interrupted, delivery.Record.BookedGpuHours, delivery.Record.LostGpuHours,
            Reliability.Score(delivery.Record, limits), limits.ReliabilityWindowDays, limits.ReliabilityMinimumGpuHours);
    }

    private async Task<IReadOnlyList<ReservationView>> ReservationsAsync(string column, string value, int limit, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand(
            $"SELECT view_json::text FROM reservations WHERE {column} = @v AND state <> 'Failed' AND view_json IS NOT NULL ORDER BY created_at DESC, id LIMIT @l");
        command.Parameters.AddWithValue("v", value);
        command.Parameters.AddWithValue("l", limit);
        return await ReadAsync(command, r => StateJson.Deserialize<ReservationView>(r.GetString(0)), cancellationToken);
    }

    public async Task<IReadOnlyList<VoucherView>> VouchersOfTenantAsync(string tenantId, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand($"""
            SELECT {VoucherViews.Columns}
            FROM vouchers WHERE tenant_id = @t ORDER BY claimed_at DESC, id
            """);
        command.Parameters.AddWithValue("t", tenantId);
        return await ReadAsync(command, VoucherViews.Read, cancellationToken);
    }

    /// <summary>What <see cref="ReadLedgerTransaction"/> reads: ledger transactions <c>t</c> joined to their entries <c>e</c>, grouped by <see cref="LedgerGroupBy"/>.</summary>
    internal const string LedgerColumns = "t.id, t.seq, t.kind, t.voucher_id, t.reservation_id, t.description, t.posted_at, " +
        "array_agg(e.account ORDER BY e.line), array_agg(e.amount_fen ORDER BY e.line)";

    internal const string LedgerGroupBy = "GROUP BY t.id, t.seq, t.kind, t.voucher_id, t.reservation_id, t.description, t.posted_at";

    internal static LedgerTransactionView ReadLedgerTransaction(NpgsqlDataReader reader)
    {
        var accounts = reader.GetFieldValue<string[]>(7);
        var amounts = reader.GetFieldValue<long[]>(8);
        return new LedgerTransactionView(reader.GetString(0), reader.GetInt64(1), reader.GetString(2),
            reader.IsDBNull(3) ? null : reader.GetString(3), reader.IsDBNull(4) ? null : reader.GetString(4), reader.GetString(5),
            reader.GetFieldValue<DateTimeOffset>(6), accounts.Zip(amounts, (a, m) => new LedgerEntryView(a, m)).ToList());
    }

    /// <summary>A page of the program's ledger transactions the filter selects; the balances are of the whole ledger.</summary>
    public async Task<LedgerPage> LedgerAsync(string programId, LedgerFilter filter, int page, int pageSize, CancellationToken cancellationToken)
    {
        await using var batch = db.CreateBatch();
        var count = new NpgsqlBatchCommand($"SELECT count(*) FROM ledger_transactions WHERE {LedgerFilter.Where}");
        filter.AddTo(count.Parameters, programId);
        var rows = new NpgsqlBatchCommand($"""
            SELECT {LedgerColumns}
            FROM (SELECT * FROM ledger_transactions WHERE {LedgerFilter.Where} ORDER BY seq LIMIT @l OFFSET @o) t
            JOIN ledger_entries e ON e.transaction_id = t.id
            {LedgerGroupBy}
            ORDER BY t.seq
            """);
        filter.AddTo(rows.Parameters, programId);
        rows.Parameters.AddWithValue("l", pageSize);
        rows.Parameters.AddWithValue("o", (long)(page - 1) * pageSize);
        // Balances of the program's own accounts and, summed, of its vouchers' accounts.
        var balances = new NpgsqlBatchCommand("""
            SELECT CASE WHEN e.account LIKE 'voucher:%' THEN 'vouchers:' || split_part(e.account, ':', 3) ELSE e.account END AS account,
                   sum(e.amount_fen)::bigint
            FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id
            WHERE t.program_id = @p AND (e.account LIKE 'program:%' OR e.account LIKE 'voucher:%')
            GROUP BY 1 ORDER BY 1
            """);
        balances.Parameters.AddWithValue("p", programId);
        batch.BatchCommands.Add(count);
        batch.BatchCommands.Add(rows);
        batch.BatchCommands.Add(balances);
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        var total = reader.GetInt64(0);
        await reader.NextResultAsync(cancellationToken);
        var transactions = new List<LedgerTransactionView>();
        while (await reader.ReadAsync(cancellationToken))
        {
            transactions.Add(ReadLedgerTransaction(reader));
        }
        await reader.NextResultAsync(cancellationToken);
        var sums = new Dictionary<string, long>(StringComparer.Ordinal);
        while (await reader.ReadAsync(cancellationToken))
        {
            sums[reader.GetString(0)] = reader.GetInt64(1);
        }
        return new LedgerPage(programId, page, pageSize, total, transactions, sums);
    }

    /// <summary>Every ledger transaction the filter selects, oldest first, read as they stream from the database.</summary>
    public async IAsyncEnumerable<LedgerTransactionView> LedgerTransactionsAsync(string programId, LedgerFilter filter,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand($"""
            SELECT {LedgerColumns}
            FROM (SELECT * FROM ledger_transactions WHERE {LedgerFilter.Where}) t
            JOIN ledger_entries e ON e.transaction_id = t.id
            {LedgerGroupBy}
            ORDER BY t.seq
            """);
        filter.AddTo(command.Parameters, programId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            yield return ReadLedgerTransaction(reader);
        }
    }

    public async Task<TakeUp?> TakeUpAsync(string programId, CancellationToken cancellationToken) =>
        (await TakeUpsAsync(programId, cancellationToken)).FirstOrDefault();

    /// <summary>Take-up of one program, or of every program when <paramref name="programId"/> is null.</summary>
    public async Task<IReadOnlyList<TakeUp>> TakeUpsAsync(string? programId, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand("""
            SELECT p.id, p.name, p.province, p.budget_fen, p.issued_fen, p.returned_fen,
                   v.state, v.tenant_province, v.tenant_kind, v.face_value_fen, v.held_fen, v.captured_fen,
                   CASE WHEN v.registered_at IS NULL THEN NULL ELSE floor(extract(epoch FROM v.registered_at - v.claimed_at) / 86400)::int END
            FROM programs p LEFT JOIN vouchers v ON v.program_id = p.id
            WHERE @p::text IS NULL OR p.id = @p
            ORDER BY p.id
            """);
        command.Parameters.AddWithValue("p", NpgsqlTypes.NpgsqlDbType.Text, (object?)programId ?? DBNull.Value);
        var rows = new List<(string Id, string Name, string Province, long Budget, long Issued, long Returned, string? State, string? TenantProvince,
            string? Kind, long Face, long Held, long Captured, int? Days)>();
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                rows.Add((reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetInt64(3), reader.GetInt64(4), reader.GetInt64(5),
                    reader.IsDBNull(6) ? null : reader.GetString(6), reader.IsDBNull(7) ? null : reader.GetString(7),
                    reader.IsDBNull(8) ? null : reader.GetString(8), reader.IsDBNull(9) ? 0 : reader.GetInt64(9),
                    reader.IsDBNull(10) ? 0 : reader.GetInt64(10), reader.IsDBNull(11) ? 0 : reader.GetInt64(11),
                    reader.IsDBNull(12) ? null : reader.GetInt32(12)));
            }
        }
        var funded = (await FundedGpuHoursAsync(programId, cancellationToken)).ToLookup(f => f.ProgramId);
        var now = clock.GetUtcNow();
        return rows.GroupBy(r => r.Id).Select(program =>
        {
            var first = program.First();
            var vouchers = program.Where(r => r.State is not null).ToList();
            var byState = Enum.GetNames<VoucherState>().ToDictionary(s => s, s => vouchers.Count(v => v.State == s));
            return new TakeUp(first.Id, first.Name, first.Province, first.Budget, byState, first.Issued,
                vouchers.Sum(v => v.Held), vouchers.Sum(v => v.Captured), first.Returned, first.Budget - first.Issued + first.Returned,
                vouchers.GroupBy(v => v.TenantProvince!).OrderBy(g => g.Key, StringComparer.Ordinal)
                    .Select(g => new CountAndAmount(g.Key, g.Count(), g.Sum(v => v.Face), g.Sum(v => v.Captured))).ToList(),
                vouchers.GroupBy(v => v.Kind!).OrderBy(g => g.Key, StringComparer.Ordinal)
                    .Select(g => new CountAndAmount(g.Key, g.Count(), g.Sum(v => v.Face), g.Sum(v => v.Captured))).ToList(),
                vouchers.Where(v => v.Days is not null).GroupBy(v => v.Days!.Value).OrderBy(g => g.Key).ToDictionary(g => g.Key, g => g.Count()),
                now, funded[first.Id].Sum(f => f.GpuHours), funded[first.Id].Sum(f => ComputeRules.Tflops(f.GpuModel, f.GpuHours) ?? 0),
                funded[first.Id].Where(f => ComputeRules.Tflops(f.GpuModel, 1) is null).Sum(f => f.GpuHours));
        }).ToList();
    }

    /// <summary>
    /// The GPU-hours per program and model of the reservations its vouchers pay a share of: filled (not pending or failed),
    /// over the hours before any were given back (a cancellation or an outage).
    /// </summary>
    private async Task<IReadOnlyList<(string ProgramId, string GpuModel, long GpuHours)>> FundedGpuHoursAsync(string? programId,
        CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand("""
            SELECT v.program_id, r.gpu_model, sum(r.gpus::bigint * (least(r.end_hour, r.released_from_hour) - r.start_hour))::bigint
            FROM reservations r JOIN vouchers v ON v.id = r.voucher_id
            WHERE r.voucher_id IS NOT NULL AND r.state NOT IN ('Pending', 'Failed') AND (r.view_json ->> 'voucherFen')::bigint > 0
              AND r.released_from_hour > r.start_hour AND (@p::text IS NULL OR v.program_id = @p)
            GROUP BY 1, 2
            """);
        command.Parameters.AddWithValue("p", NpgsqlTypes.NpgsqlDbType.Text, (object?)programId ?? DBNull.Value);
        return await ReadAsync(command, r => (r.GetString(0), r.GetString(1), r.GetInt64(2)), cancellationToken);
    }

    /// <summary>Registrations in a state, the longest waiting first.</summary>
    public async Task<IReadOnlyList<CompanyReviewView>> CompaniesAsync(CompanyState state, int page, int pageSize, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand("""
            SELECT party, party_id, name, credit_code, state, revision, registration::text, changes::text, reason, reviewed_by, reviewed_at, updated_at
            FROM companies WHERE state = @s ORDER BY updated_at, party, party_id LIMIT @l OFFSET @o
            """);
        command.Parameters.AddWithValue("s", state.ToString());
        command.Parameters.AddWithValue("l", pageSize);
        command.Parameters.AddWithValue("o", (long)(page - 1) * pageSize);
        return await ReadAsync(command, r => new CompanyReviewView(r.GetString(0), r.GetString(1), r.GetString(2), NullableString(r, 3),
            Enum.Parse<CompanyState>(r.GetString(4)), r.GetInt32(5), System.Text.Json.JsonDocument.Parse(r.GetString(6)).RootElement.Clone(),
            StateJson.Deserialize<List<CompanyChange>>(r.GetString(7)), NullableString(r, 8), NullableString(r, 9),
            r.IsDBNull(10) ? null : r.GetFieldValue<DateTimeOffset>(10), r.GetFieldValue<DateTimeOffset>(11)), cancellationToken);
    }

    public async Task<IReadOnlyList<AuditView>> AuditAsync(AuditFilter filter, int page, int pageSize, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand("""
            SELECT id, at, subject, role, action, resource, outcome, status_code, address, user_agent, trace_id, detail FROM audit_log
            WHERE (@s::text IS NULL OR subject = @s) AND (@a::text IS NULL OR action = @a) AND (@o2::text IS NULL OR outcome = @o2)
              AND (@from::timestamptz IS NULL OR at >= @from) AND (@to::timestamptz IS NULL OR at < @to)
            ORDER BY id DESC LIMIT @l OFFSET @o
            """);
        command.Parameters.AddWithValue("s", NpgsqlTypes.NpgsqlDbType.Text, (object?)filter.Subject ?? DBNull.Value);
        command.Parameters.AddWithValue("a", NpgsqlTypes.NpgsqlDbType.Text, (object?)filter.Action ?? DBNull.Value);
        command.Parameters.AddWithValue("o2", NpgsqlTypes.NpgsqlDbType.Text, (object?)filter.Outcome ?? DBNull.Value);
        command.Parameters.AddWithValue("from", NpgsqlTypes.NpgsqlDbType.TimestampTz, (object?)filter.From?.ToUniversalTime() ?? DBNull.Value);
        command.Parameters.AddWithValue("to", NpgsqlTypes.NpgsqlDbType.TimestampTz, (object?)filter.To?.ToUniversalTime() ?? DBNull.Value);
        command.Parameters.AddWithValue("l", pageSize);
        command.Parameters.AddWithValue("o", (long)(page - 1) * pageSize);
        return await ReadAsync(command, r => new AuditView(r.GetInt64(0), r.GetFieldValue<DateTimeOffset>(1), r.GetString(2), r.GetString(3),
            r.GetString(4), r.GetString(5), r.GetString(6), r.GetInt32(7), NullableString(r, 8), NullableString(r, 9), NullableString(r, 10), NullableString(r, 11)),
            cancellationToken);
    }

    /// <summary>
    /// Refusals per caller, action, status and minute, newest minute first (a minute written in parts is added up). The
    /// example, address, user agent and trace id are those of one row, the group's first written: taken each on its own
    /// (min of each) they could come from different requests, and the trace id would not lead to the address shown.
    /// </summary>
    public async Task<IReadOnlyList<RefusalView>> RefusalsAsync(int page, int pageSize, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand("""
            SELECT minute, subject, caller, role, action, status_code, sum(count),
                   (array_agg(example ORDER BY id))[1], (array_agg(address ORDER BY id))[1], (array_agg(user_agent ORDER BY id))[1],
                   (array_agg(trace_id ORDER BY id))[1]
            FROM audit_refusals
            GROUP BY minute, subject, caller, role, action, status_code
            ORDER BY minute DESC, sum(count) DESC, caller, action LIMIT @l OFFSET @o
            """);
        command.Parameters.AddWithValue("l", pageSize);
        command.Parameters.AddWithValue("o", (long)(page - 1) * pageSize);
        return await ReadAsync(command, r => new RefusalView(r.GetFieldValue<DateTimeOffset>(0), r.GetString(1), r.GetString(2), r.GetString(3),
            r.GetString(4), r.GetInt32(5), r.GetInt64(6), r.GetString(7), NullableString(r, 8), NullableString(r, 9), NullableString(r, 10)), cancellationToken);
    }

    private static string? NullableString(NpgsqlDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);

    /// <summary>Every row the command reads, mapped (the web tier's queries share it).</summary>
    internal static async Task<IReadOnlyList<T>> ReadAsync<T>(NpgsqlCommand command, Func<NpgsqlDataReader, T> map, CancellationToken cancellationToken)
    {
        var list = new List<T>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            list.Add(map(reader));
        }
        return list;
    }
}
