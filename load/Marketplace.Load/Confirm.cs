using Marketplace.Storage;
using Npgsql;

namespace Marketplace.Load;

/// <summary>Confirms at the end of a run that what the tool counted is what the market stored.</summary>
public static class Confirm
{
    /// <summary>
    /// Reads back through the API every bid whose last known state is not final (so a late fill is counted) and a sample of
    /// the filled ones, which must still say Filled. Bounded: at most <paramref name="limit"/> reads.
    /// </summary>
    public static async Task<Confirmation> ViaApiAsync(Api api, Tally tally, IReadOnlyDictionary<string, Tenant> owners, int limit, CancellationToken cancel)
    {
        var open = tally.IdsInState(nameof(BidState.Pending), nameof(BidState.Resting)).Take(limit).ToList();
        var sample = tally.IdsInState(nameof(BidState.Filled)).Take(Math.Max(0, limit - open.Count)).ToList();
        long mismatches = 0, filled = 0;
        foreach (var id in open.Concat(sample))
        {
            var answer = await api.GetAsync($"/api/v1/bids/{id}", owners[id].Token, cancel);
            var state = answer.Ok ? answer.Text("state") : null;
            if (state is null)
            {
                mismatches++;
                continue;
            }
            filled += state == nameof(BidState.Filled) ? 1 : 0;
            if (sample.Contains(id) && state != nameof(BidState.Filled))
            {
                mismatches++;
            }
            tally.ReadBack(id, state);
        }
        return new Confirmation("api", open.Count + sample.Count, filled, mismatches, null, []);
    }

    /// <summary>
    /// Counts the accepted bids by state in the database (each must be stored, and each filled one must have been pushed to
    /// its tenant: a difference is a mismatch), then runs the invariant checker over the whole database.
    /// </summary>
    public static async Task<Confirmation> ViaDatabaseAsync(string connectionString, Tally tally, CancellationToken cancel)
    {
        await using var db = NpgsqlDataSource.Create(connectionString);
        var ids = tally.AcceptedIds.ToArray();
        var states = new Dictionary<string, long>(StringComparer.Ordinal);
        await using (var command = db.CreateCommand("SELECT id, state FROM bids WHERE id = ANY(@ids)"))
        {
            command.Parameters.AddWithValue("ids", ids);
            await using var reader = await command.ExecuteReaderAsync(cancel);
            while (await reader.ReadAsync(cancel))
            {
                var state = reader.GetString(1);
                states[state] = states.GetValueOrDefault(state) + 1;
                tally.ReadBack(reader.GetString(0), state);
            }
        }
        var stored = states.Values.Sum();
        var filled = states.GetValueOrDefault(nameof(BidState.Filled));
        var mismatches = ids.Length - stored + Math.Abs(filled - tally.PushFills);
        var report = await new InvariantChecker(db).CheckAsync(DateTimeOffset.UtcNow, ids, cancellationToken: cancel);
        return new Confirmation("database", stored, filled, mismatches, report.Clean, report.Violations.Take(20).Select(v => v.ToString()).ToList());
    }

    /// <summary>The <c>check</c> verb: the invariant checker over a database, printed.</summary>
    public static async Task<int> CheckAsync(string connectionString, TextWriter output, CancellationToken cancel)
    {
        await using var db = NpgsqlDataSource.Create(connectionString);
        var report = await new InvariantChecker(db).CheckAsync(DateTimeOffset.UtcNow, cancellationToken: cancel);
        foreach (var (name, count) in report.Counts)
        {
            await output.WriteLineAsync($"{name,-24}{count,12:N0}");
        }
        foreach (var violation in report.Violations)
        {
            await output.WriteLineAsync(violation.ToString());
        }
        await output.WriteLineAsync(report.Clean ? "invariants hold" : $"{report.Violations.Count} invariant violations");
        return report.Clean ? 0 : 1;
    }
}
