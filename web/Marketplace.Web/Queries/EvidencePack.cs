using Marketplace.Grains;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Marketplace.Data;
using Marketplace.Web.Infrastructure;
using Npgsql;

namespace Marketplace.Web.Queries;

/// <summary>What the voucher recorded about its company when it was claimed: the facts its eligibility was checked on.</summary>
public sealed record ClaimFacts(string TenantKind, string TenantProvince, string? TenantCreditCode, IReadOnlyList<string> RelatedPartyCreditCodes,
    string ClaimKey, DateTimeOffset ClaimedAt, bool Stackable, bool Exclusive);

/// <summary>A rental the voucher funded: its hold on the voucher and the reservation as it stands.</summary>
public sealed record FundedRental(string ReservationId, string HoldState, long RentalCostFen, long HeldFen, long CapturedFen, ReservationView? Reservation);

/// <summary>
/// Everything an evidence pack holds. The voucher, its claim, holds, ledger, seals and chain heads are read in one
/// database snapshot; the reservations' details come from their grains just after.
/// </summary>
public sealed record EvidenceFacts(
    VoucherView Voucher,
    ProgramView? Program,
    TenantView? Tenant,
    ClaimFacts Claim,
    IReadOnlyList<FundedRental> Rentals,
    IReadOnlyList<LedgerTransactionView> Ledger,
    IReadOnlyList<ChainSeal> Seals,
    IReadOnlyList<ChainHead> Heads,
    DateTimeOffset GeneratedAt);

/// <summary>One file of a pack and its SHA-256, as the manifest lists it.</summary>
public sealed record PackFile(string Name, long Bytes, string Sha256);

public sealed record PackManifest(string VoucherId, string ProgramId, DateTimeOffset GeneratedAt, string HashRule, IReadOnlyList<ChainHead> ChainHeads,
    IReadOnlyList<PackFile> Files);

/// <summary>
/// An evidence pack per voucher: what an auditor of a subsidy programme asks a firm to show for the public money it
/// spent. The facts come from the grains (voucher, programme, tenant, reservations) and from the ledger and its seals;
/// the pack is a ZIP of JSON, CSV, a printable bilingual statement and a manifest of SHA-256 hashes.
/// </summary>
internal sealed class EvidencePacks(NpgsqlDataSource db, LedgerChain chain, GrainCalls grains, [FromKeyedServices(Names.ClockKeys.Market)] TimeProvider clock)
{
    public const string HashRule = "hash = SHA-256(prevHash bytes || UTF-8 bytes of canonicalText); the first prevHash of a chain is SHA-256('genesis:' + chain)";

    private static readonly JsonSerializerOptions Json = CreateJson();

    /// <summary>
    /// Gathers the pack of a voucher the caller may see (the API checks that first, on the voucher's grain). Everything
    /// posted so far is sealed first (unless the caller just did, for many packs at once); a posting committed after
    /// that is in the pack's ledger without a seal, and <c>chain.json</c> lists it as waiting.
    /// </summary>
    public async Task<EvidenceFacts?> GatherAsync(string voucherId, CancellationToken cancellationToken, bool sealFirst = true)
    {
        if (sealFirst)
        {
            await chain.SealAsync(cancellationToken);
        }
        VoucherView voucher;
        ClaimFacts claim;
        IReadOnlyList<FundedRental> holds;
        IReadOnlyList<LedgerTransactionView> ledger;
        IReadOnlyList<ChainSeal> seals;
        IReadOnlyList<ChainHead> heads;
        await using (var connection = await db.OpenConnectionAsync(cancellationToken))
        await using (var transaction = await connection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, cancellationToken))
        {
            if (await VoucherAsync(connection, transaction, voucherId, cancellationToken) is not { } found)
            {
                return null;
            }
            (voucher, claim) = found;
            holds = await HoldsAsync(connection, transaction, voucherId, cancellationToken);
            ledger = await LedgerAsync(connection, transaction, voucherId, cancellationToken);
            seals = await LedgerChain.SealsOfVoucherAsync(connection, transaction, voucherId, cancellationToken);
            // The programme's chain, and any other chain a posting of the voucher is sealed in (a settlement the voucher paid nothing of).
            heads = await LedgerChain.HeadsAsync(connection, transaction, seals.Select(s => s.Chain).Append(voucher.ProgramId).Distinct().ToList(), cancellationToken);
        }
        var program = await grains.Run(c => c.GetGrain<IVoucherProgramGrain>(voucher.ProgramId).Get(), cancellationToken);
        var tenant = await grains.Run(c => c.GetGrain<ITenantGrain>(voucher.TenantId).Get(), cancellationToken);
        var rentals = new List<FundedRental>();
        foreach (var hold in holds)
        {
            var reservation = await grains.Run(c => c.GetGrain<IReservationGrain>(hold.ReservationId).Get(), cancellationToken);
            rentals.Add(hold with { Reservation = reservation });
        }
        rentals = rentals.OrderBy(r => r.Reservation?.Plan.StartsAt).ThenBy(r => r.ReservationId, StringComparer.Ordinal).ToList();
        return new EvidenceFacts(voucher, program, tenant, claim, rentals, ledger, seals, heads, clock.GetUtcNow());
    }

    /// <summary>Writes the pack's files into <paramref name="zip"/>, under <paramref name="folder"/> (empty: at the top).</summary>
    public static async Task WriteAsync(EvidenceFacts facts, ZipArchive zip, string folder, CancellationToken cancellationToken)
    {
        var files = new List<(string Name, byte[] Content)>
        {
            ("claim.json", JsonSerializer.SerializeToUtf8Bytes(new
            {
                facts.Voucher, facts.Claim, Tenant = facts.Tenant?.Registration, Program = facts.Program is { } p ? new { p.Id, p.Definition } : null,
            }, Json)),
            ("activity.json", JsonSerializer.SerializeToUtf8Bytes(facts.Voucher.Activity, Json)),
            ("reservations.csv", Encoding.UTF8.GetBytes(ReservationsCsv(facts.Rentals))),
            ("ledger.csv", Encoding.UTF8.GetBytes(LedgerCsv(facts.Ledger))),
            ("chain.json", JsonSerializer.SerializeToUtf8Bytes(new
            {
                HashRule, facts.Heads, facts.Seals,
                Waiting = facts.Ledger.Select(t => t.Id).Except(facts.Seals.Select(s => s.TransactionId)).ToList(),
            }, Json)),
            ("statement.html", Encoding.UTF8.GetBytes(EvidenceStatement.Html(facts))),
        };
        var manifest = new PackManifest(facts.Voucher.Id, facts.Voucher.ProgramId, facts.GeneratedAt, HashRule, facts.Heads,
            files.Select(f => new PackFile(f.Name, f.Content.Length, Convert.ToHexStringLower(SHA256.HashData(f.Content)))).ToList());
        files.Add(("manifest.json", JsonSerializer.SerializeToUtf8Bytes(manifest, Json)));
        foreach (var (name, content) in files)
        {
            var entry = zip.CreateEntry(folder.Length == 0 ? name : $"{folder}/{name}", CompressionLevel.Fastest);
            await using var stream = await entry.OpenAsync(cancellationToken);
            await stream.WriteAsync(content, cancellationToken);
        }
    }

    /// <summary>The vouchers of a programme, for the bulk download.</summary>
    public async Task<IReadOnlyList<string>> VouchersOfProgramAsync(string programId, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand("SELECT id FROM vouchers WHERE program_id = @p ORDER BY claimed_at, id");
        command.Parameters.AddWithValue("p", programId);
        var ids = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            ids.Add(reader.GetString(0));
        }
        return ids;
    }

    /// <summary>The voucher as its row stands, and the facts its claim was checked on.</summary>
    private static async Task<(VoucherView Voucher, ClaimFacts Claim)?> VoucherAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string voucherId,
        CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand($"""
            SELECT {VoucherViews.Columns}, tenant_kind, tenant_province, tenant_credit_code, related_parties, claim_key, stackable, exclusive
            FROM vouchers WHERE id = @v
            """, connection, transaction);
        command.Parameters.AddWithValue("v", voucherId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }
        var voucher = VoucherViews.Read(reader);
        var extra = VoucherViews.ColumnCount;
        return (voucher, new ClaimFacts(reader.GetString(extra), reader.GetString(extra + 1), reader.IsDBNull(extra + 2) ? null : reader.GetString(extra + 2),
            reader.GetFieldValue<string[]>(extra + 3), reader.GetString(extra + 4), voucher.ClaimedAt, reader.GetBoolean(extra + 5), reader.GetBoolean(extra + 6)));
    }

    private static async Task<IReadOnlyList<FundedRental>> HoldsAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string voucherId,
        CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("""
            SELECT reservation_id, state, rental_cost_fen, amount_fen, captured_fen FROM voucher_holds
            WHERE voucher_id = @v ORDER BY created_at, reservation_id
            """, connection, transaction);
        command.Parameters.AddWithValue("v", voucherId);
        var holds = new List<FundedRental>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            holds.Add(new FundedRental(reader.GetString(0), reader.GetString(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(4), null));
        }
        return holds;
    }

    private static async Task<IReadOnlyList<LedgerTransactionView>> LedgerAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string voucherId,
        CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand($"""
            SELECT {ReadModels.LedgerColumns}
            FROM ledger_transactions t JOIN ledger_entries e ON e.transaction_id = t.id
            WHERE t.voucher_id = @v
            {ReadModels.LedgerGroupBy}
            ORDER BY t.seq
            """, connection, transaction);
        command.Parameters.AddWithValue("v", voucherId);
        var transactions = new List<LedgerTransactionView>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            transactions.Add(ReadModels.ReadLedgerTransaction(reader));
        }
        return transactions;
    }

    private static string ReservationsCsv(IReadOnlyList<FundedRental> rentals)
    {
        var csv = new Csv("reservation_id", "hold_state", "reservation_state", "provider_id", "province", "site_id", "gpu_model", "gpus",
            "starts_at", "ends_at", "hours_booked", "hours_used", "fen_per_gpu_hour", "rental_cost_fen", "voucher_held_fen", "voucher_captured_fen",
            "settled_cost_fen", "settled_cash_fen", "reason");
        foreach (var rental in rentals)
        {
            var r = rental.Reservation;
            csv.Row(rental.ReservationId, rental.HoldState, r?.State.ToString(), r?.Plan.ProviderId, r?.Plan.Province, r?.Plan.SiteId, r?.Plan.GpuModel,
                r?.Plan.Gpus, r?.Plan.StartsAt, r?.EndsAt, r?.Plan.Hours, r?.Settlement?.UsedHours, r?.Plan.FenPerGpuHour, rental.RentalCostFen,
                rental.HeldFen, rental.CapturedFen, r?.Settlement?.CostFen, r?.Settlement?.CashFen, r?.Reason);
        }
        return csv.ToString();
    }

    private static string LedgerCsv(IReadOnlyList<LedgerTransactionView> ledger)
    {
        var csv = new Csv(Api.LedgerCsv.Header);
        foreach (var row in ledger.SelectMany(Api.LedgerCsv.Rows))
        {
            csv.Row(row);
        }
        return csv.ToString();
    }

    private static JsonSerializerOptions CreateJson()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web) { WriteIndented = true };
        WebSetup.ConfigureJson(options);
        return options;
    }
}

/// <summary>
/// RFC 4180 text: a field with a comma, quote or line break is quoted, quotes doubled; times in ISO 8601 in Beijing time,
/// with their offset.
/// </summary>
internal sealed class Csv
{
    private readonly StringBuilder _text = new();

    public Csv(params string[] header) => Row(header);

    public void Row(params object?[] fields) => _text.Append(Line(fields));

    /// <summary>One line of fields, with its line break.</summary>
    public static string Line(params object?[] fields) => string.Join(',', fields.Select(Field)) + "\r\n";

    private static string Field(object? value)
    {
        var text = value switch
        {
            null => "",
            DateTimeOffset t => t.ToOffset(ChinaTime.Offset).ToString("yyyy-MM-dd'T'HH:mm:sszzz", System.Globalization.CultureInfo.InvariantCulture),
            IFormattable f => f.ToString(null, System.Globalization.CultureInfo.InvariantCulture),
            _ => value.ToString() ?? "",
        };
        // A text that a spreadsheet would read as a formula is kept as text.
        if (value is string && text.Length > 0 && text[0] is '=' or '+' or '-' or '@')
        {
            text = "'" + text;
        }
        return text.IndexOfAny([',', '"', '\r', '\n']) >= 0 ? $"\"{text.Replace("\"", "\"\"")}\"" : text;
    }

    public override string ToString() => _text.ToString();
}

/// <summary>
/// A write-only stream that keeps what is written until <see cref="DrainToAsync"/> sends it on: lets a writer that
/// writes synchronously (the ZIP archive) feed a response that must be written asynchronously, a part at a time.
/// </summary>
internal sealed class DrainableStream : Stream
{
    private readonly MemoryStream _pending = new();
    private long _written;

    public async Task DrainToAsync(Stream target, CancellationToken cancellationToken)
    {
        if (_pending.Length > 0)
        {
            await target.WriteAsync(_pending.GetBuffer().AsMemory(0, (int)_pending.Length), cancellationToken);
            await target.FlushAsync(cancellationToken);
            _pending.SetLength(0);
        }
    }

    public override void Write(byte[] buffer, int offset, int count)
    {
        _pending.Write(buffer, offset, count);
        _written += count;
    }

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => _written; set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
