using System.Text;
using Marketplace.Web.Queries;

namespace Marketplace.Web.Api;

/// <summary>
/// Ledger transactions as CSV (<see cref="Csv"/>), one row per entry: a program's ledger streamed as the database returns
/// it (UTF-8 with a byte-order mark, so spreadsheet programs read the Chinese text), and a voucher's in its evidence pack.
/// </summary>
internal sealed class LedgerCsv(string programId, IAsyncEnumerable<LedgerTransactionView> transactions) : IResult
{
    public const string ContentType = "text/csv; charset=utf-8";

    public static readonly string[] Header =
        ["sequence", "transaction_id", "kind", "voucher_id", "reservation_id", "posted_at", "description", "line", "account", "amount_fen"];

    public static IEnumerable<object?[]> Rows(LedgerTransactionView t) =>
        t.Entries.Select((entry, i) => new object?[]
            { t.Sequence, t.Id, t.Kind, t.VoucherId, t.ReservationId, t.PostedAt, t.Description, i + 1, entry.Account, entry.AmountFen });

    public async Task ExecuteAsync(HttpContext context)
    {
        context.Response.ContentType = ContentType;
        context.Response.Headers.ContentDisposition = $"attachment; filename=\"ledger-{programId}.csv\"";
        await using var writer = new StreamWriter(context.Response.Body, new UTF8Encoding(encoderShouldEmitUTF8Identifier: true), bufferSize: 16 * 1024);
        await writer.WriteAsync(Csv.Line(Header));
        await foreach (var t in transactions)
        {
            foreach (var row in Rows(t))
            {
                await writer.WriteAsync(Csv.Line(row));
            }
        }
    }
}
