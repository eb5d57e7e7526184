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
    /// <summary>The good-till-cancelled compute bid this bid is one try of (left out of the stored row when not).</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public string? ComputeBidId { get; init; }

    public BidView ToView(string id, long version) =>
        new(id, TenantId, Order, State, ReasonCode, Reason, Fills, CreatedAt, UpdatedAt, version) { ComputeBidId = ComputeBidId };

    /// <summary>The bid, if it is still open (pending or resting); otherwise a conflict.</summary>
    public BidRecord Open() => State is BidState.Pending or BidState.Resting
        ? this
        : throw DomainException.Conflict("bid-not-open", $"the bid is already {State}");

    /// <summary>The bid filled by <paramref name="fill"/> (the same record if it already is).</summary>
    public BidRecord WithFill(Fill fill) => Fills.Any(f => f.ReservationId == fill.ReservationId)
        ? this
        : Open() with { Fills = [.. Fills, fill], State = BidState.Filled, ReasonCode = null, Reason = null };

    /// <summary>The bid ended (rejected, expired, cancelled), or moved to resting, with why (the same record if it already is).</summary>
    public BidRecord Ended(BidState state, string? reasonCode, string? reason) =>
        State == state ? this : Open() with { State = state, ReasonCode = reasonCode, Reason = reason };

    /// <summary>
    /// An outage or a cancel interrupted one of its fills: that fill is replaced by the part used (if any) and by the
    /// re-matched rest (if any); the bid is filled, partly filled or cancelled accordingly.
    /// </summary>
    public BidRecord WithInterruptedFill(string reservationId, Fill? usedPart, Fill? replacement, string reasonCode, string reason)
    {
        if (Fills.All(f => f.ReservationId != reservationId))
        {
            throw DomainException.Rule("unknown-fill", $"reservation {reservationId} is not a fill of this bid");
        }
        var fills = Fills
            .Select(f => f.ReservationId == reservationId ? usedPart : f)
            .Where(f => f is not null).Select(f => f!)
            .ToList();
        if (replacement is not null && fills.All(f => f.ReservationId != replacement.ReservationId))
        {
            fills.Add(replacement);
        }
        var state = replacement is not null ? BidState.Filled : fills.Count > 0 ? BidState.PartiallyFilled : BidState.Cancelled;
        return this with { Fills = fills, State = state, ReasonCode = reasonCode, Reason = reason };
    }
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
], (id, b, version) => StateJson.Serialize(b.ToView(id, version)))
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
