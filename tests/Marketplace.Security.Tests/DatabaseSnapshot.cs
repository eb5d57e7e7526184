using Marketplace.Testing;

namespace Marketplace.Security.Tests;

/// <summary>
/// Row count and a content hash of every table that holds a marketplace fact. Left out, because requests may rightly
/// change them without changing the market: <c>audit_log</c> (refusals are recorded), <c>idempotency_keys</c> (refused
/// keyed requests are remembered), <c>orleansmembershiptable</c> and <c>orleansmembershipversiontable</c> (silo
/// heartbeats), <c>orleansremindertable</c> (grains register their timers on activation) and <c>schema_version</c>.
/// <c>orleansstorage</c> is kept: it holds the tenants' and providers' registrations.
/// </summary>
public static class DatabaseSnapshot
{
    public static readonly IReadOnlyList<string> Tables =
    [
        "programs", "program_provider_notices", "vouchers", "voucher_holds", "ledger_transactions", "ledger_entries", "pools", "bids",
        "reservations", "orleansstorage",
    ];

    public static async Task<IReadOnlyDictionary<string, string>> TakeAsync(TestDatabase database)
    {
        var snapshot = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var table in Tables)
        {
            await using var command = database.DataSource.CreateCommand(
                $"SELECT count(*) || ' rows, md5 ' || coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '-') FROM {table} t");
            snapshot[table] = (string)(await command.ExecuteScalarAsync())!;
        }
        return snapshot;
    }

    /// <summary>The tables whose content differs, with both values.</summary>
    public static IReadOnlyList<string> Differences(IReadOnlyDictionary<string, string> before, IReadOnlyDictionary<string, string> after) =>
        before.Where(b => after[b.Key] != b.Value).Select(b => $"{b.Key}: {b.Value} before, {after[b.Key]} after").ToList();
}
