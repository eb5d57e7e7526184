using Marketplace.Storage;
using Xunit;

namespace Marketplace.Testing;

/// <summary>Asserts the marketplace's invariants (see <see cref="InvariantChecker"/>) on a test database.</summary>
public static class LedgerAssert
{
    public static async Task<InvariantReport> Clean(TestDatabase database, DateTimeOffset now, IReadOnlyCollection<string>? acceptedBids = null)
    {
        var report = await new InvariantChecker(database.DataSource).CheckAsync(now, acceptedBids);
        Assert.True(report.Clean, "invariant violations:\n" + string.Join("\n", report.Violations.Take(20)));
        return report;
    }

    public static async Task VoucherMatchesLedger(TestDatabase database, string voucherId)
    {
        var report = await new InvariantChecker(database.DataSource).CheckAsync(DateTimeOffset.UtcNow);
        var mine = report.Violations.Where(v => v.Subject == $"voucher {voucherId}").ToList();
        Assert.True(mine.Count == 0, string.Join("\n", mine));
    }

    public static async Task EveryTransactionBalanced(TestDatabase database)
    {
        var report = await new InvariantChecker(database.DataSource).CheckAsync(DateTimeOffset.UtcNow);
        var unbalanced = report.Violations.Where(v => v.Rule == "ledger-balance").ToList();
        Assert.True(unbalanced.Count == 0, string.Join("\n", unbalanced));
    }
}
