using Marketplace.Domain;
using Marketplace.Domain.Rules;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Marketplace.Storage;

/// <summary>
/// A good-till-cancelled compute bid as its owner sees it (row of <c>compute_bids</c>): the compute asked for, its state
/// and, once filled, the try that filled it. <see cref="Version"/> moves with every change the owner can see.
/// </summary>
public sealed record ComputeBidRecord(
    string TenantId,
    ComputeOrder Order,
    BidState State,
    string? ReasonCode,
    string? Reason,
    string? FilledBidId,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    long Version)
{
    /// <summary>
    /// The bid as the API shows it: the filled try under this bid's id, or the resting, cancelled or expired compute bid
    /// as the model bid it would be in its first candidate model. Its version is this bid's plus the filled try's, so it
    /// grows when either changes.
    /// </summary>
    public BidView ToView(string id, BidView? filled, MarketLimits limits)
    {
        if (filled is not null)
        {
            return ComputeBidViews.FilledAs(id, Order, Version, filled);
        }
        var candidates = ComputeRules.Candidates(Order.PflopsHours, Order.MinMemoryGb, Order.DurationHours, Order.MaxFenPerPflopsHour,
            Order.Vendors, Order.GpuModels, limits);
        if (candidates.Count == 0)
        {
            throw DomainException.Rule("no-compute-model",
                "no catalogue model with a published TFLOPS figure meets the memory, vendor, model, gang size and price limits of this bid");
        }
        return new BidView(id, TenantId, Order.For(candidates[0]) with { TimeInForce = TimeInForce.Gtc }, State, ReasonCode, Reason, [],
            CreatedAt, UpdatedAt, Version) { ComputeOrder = Order };
    }
}

/// <summary>
/// The owners' lists of their good-till-cancelled compute bids. The bid's grain keeps the bid and writes its row here after
/// each change its owner can see; a write never replaces a newer version, so a late or repeated write changes nothing.
/// The row keeps the bid's public view as it rests or ended (<c>view_json</c>); once a try filled it, the read side shows
/// that try's view (<see cref="ComputeBidViews.FilledAs"/>), which moves on its own.
/// </summary>
public sealed class ComputeBidStore(NpgsqlDataSource db, IOptions<MarketLimits> limits)
{
    public async Task WriteAsync(string id, ComputeBidRecord bid, CancellationToken cancellationToken = default)
    {
        await using var command = db.CreateCommand("""
            INSERT INTO compute_bids (id, tenant_id, state, filled_bid_id, created_at, updated_at, version, state_json, view_json)
            VALUES (@id, @tenant, @state, @filled, @created, @updated, @version, @json::jsonb, @view::jsonb)
            ON CONFLICT (id) DO UPDATE SET state = excluded.state, filled_bid_id = excluded.filled_bid_id, updated_at = excluded.updated_at,
                version = excluded.version, state_json = excluded.state_json, view_json = excluded.view_json
            WHERE compute_bids.version < excluded.version
            """);
        command.Parameters.AddWithValue("id", id);
        command.Parameters.AddWithValue("tenant", bid.TenantId);
        command.Parameters.AddWithValue("state", bid.State.ToString());
        command.Parameters.AddWithValue("filled", (object?)bid.FilledBidId ?? DBNull.Value);
        command.Parameters.AddWithValue("created", bid.CreatedAt);
        command.Parameters.AddWithValue("updated", bid.UpdatedAt);
        command.Parameters.AddWithValue("version", bid.Version);
        command.Parameters.AddWithValue("json", StateJson.Serialize(bid));
        command.Parameters.AddWithValue("view", StateJson.Serialize(bid.ToView(id, null, limits.Value)));
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// Writes the view of each row written before rows kept one (migration 0123 could not: a resting compute bid is shown
    /// in the first candidate model of the catalogue, which SQL does not know). Run once as a silo starts; a row that has
    /// its view is never touched, so silos starting together do no harm. Returns how many rows it wrote.
    /// </summary>
    public async Task<int> WriteMissingViewsAsync(CancellationToken cancellationToken = default)
    {
        var missing = new List<(string Id, ComputeBidRecord Bid)>();
        await using (var command = db.CreateCommand("SELECT id, state_json::text FROM compute_bids WHERE view_json IS NULL"))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                missing.Add((reader.GetString(0), StateJson.Deserialize<ComputeBidRecord>(reader.GetString(1))));
            }
        }
        var written = 0;
        foreach (var (id, bid) in missing)
        {
            await using var update = db.CreateCommand("UPDATE compute_bids SET view_json = @view::jsonb WHERE id = @id AND view_json IS NULL AND version = @version");
            update.Parameters.AddWithValue("id", id);
            update.Parameters.AddWithValue("version", bid.Version);
            update.Parameters.AddWithValue("view", StateJson.Serialize(bid.ToView(id, null, limits.Value)));
            written += await update.ExecuteNonQueryAsync(cancellationToken);
        }
        return written;
    }
}
