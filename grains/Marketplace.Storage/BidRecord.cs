using Npgsql;

namespace Marketplace.Storage;

/// <summary>The persisted state of a bid (row of <c>bids</c>). Immutable: a change is a new record, kept only once written.</summary>
public sealed record BidRecord(
    string TenantId,
    BidOrder Order,
    string OrderHash,
    BidState State,
    string? ReasonCode,
    string? Reason,
    IReadOnlyList<Fill> Fills,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt)
{
    public BidView ToView(string id, long version) =>
        new(id, TenantId, Order, State, ReasonCode, Reason, Fills, CreatedAt, UpdatedAt, version);
}

public sealed class BidStore(NpgsqlDataSource db, CommitBatcher? writer = null) : RowStore<BidRecord>(db, writer, "bids",
[
    new("tenant_id", b => b.TenantId),
    new("gpu_model", b => b.Order.GpuModel),
    new("state", b => b.State.ToString()),
    new("order_hash", b => b.OrderHash),
    new("good_until", b => b.Order.TimeInForce == TimeInForce.Gtc ? b.Order.GoodUntil : null),
    new("created_at", b => b.CreatedAt),
    new("updated_at", b => b.UpdatedAt),
])
{
    /// <summary>The bids a market must know about when it activates: resting ones and ones a crash left pending.</summary>
    public async Task<IReadOnlyList<(string Id, BidRecord Bid, long Version)>> OpenBidsAsync(string gpuModel, CancellationToken cancellationToken = default)
    {
        await using var command = Db.CreateCommand("""
            SELECT id, state_json::text, version FROM bids WHERE gpu_model = @m AND state IN ('Pending', 'Resting') ORDER BY created_at, id
            """);
        command.Parameters.AddWithValue("m", gpuModel);
        var bids = new List<(string, BidRecord, long)>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            bids.Add((reader.GetString(0), StateJson.Deserialize<BidRecord>(reader.GetString(1)), reader.GetInt64(2)));
        }
        return bids;
    }
}
