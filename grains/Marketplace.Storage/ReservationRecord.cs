using Marketplace.Domain;
using Npgsql;

namespace Marketplace.Storage;

/// <summary>The persisted state of a reservation (row of <c>reservations</c>). Immutable: a change is kept once written.</summary>
public sealed record ReservationRecord(
    ReservationPlan Plan,
    ReservationState State,
    long VoucherFen,
    long CashFen,
    string? VoucherProgramId,
    string? ReasonCode,
    string? Reason,
    bool CapacityRefused,
    long ReleasedFromHour,
    Settlement? Settlement,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt)
{
    public long EndHour => Math.Min(Plan.StartHour + Plan.Hours, ReleasedFromHour);

    public ReservationView ToView(string id, long version) =>
        new(id, Plan, State, VoucherFen, CashFen, ReasonCode, Reason, Settlement, CreatedAt, UpdatedAt, version, Hours.ToTime(EndHour));
}

public sealed class ReservationStore(NpgsqlDataSource db, CommitBatcher? writer = null) : RowStore<ReservationRecord>(db, writer, "reservations",
[
    new("bid_id", r => r.Plan.BidId),
    new("tenant_id", r => r.Plan.TenantId),
    new("pool_id", r => r.Plan.PoolId),
    new("provider_id", r => r.Plan.ProviderId),
    new("gpu_model", r => r.Plan.GpuModel),
    new("voucher_id", r => r.Plan.VoucherId),
    new("state", r => r.State.ToString()),
    new("start_hour", r => r.Plan.StartHour),
    new("end_hour", r => r.Plan.StartHour + r.Plan.Hours),
    new("released_from_hour", r => r.ReleasedFromHour),
    new("gpus", r => r.Plan.Gpus),
    new("settled", r => r.Settlement is not null),
    new("starts_at", r => r.Plan.StartsAt),
    new("ends_at", r => Hours.ToTime(r.EndHour)),
    new("created_at", r => r.CreatedAt),
    new("updated_at", r => r.UpdatedAt),
], (id, r, version) => StateJson.Serialize(r.ToView(id, version)))
{
    public async Task<IReadOnlyList<string>> IdsForBidAsync(string bidId, CancellationToken cancellationToken = default)
    {
        await using var command = Db.CreateCommand("SELECT id FROM reservations WHERE bid_id = @b ORDER BY created_at, id");
        command.Parameters.AddWithValue("b", bidId);
        var ids = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            ids.Add(reader.GetString(0));
        }
        return ids;
    }

    /// <summary>How many reservations each of the given bids has had (bids with none are left out).</summary>
    public async Task<IReadOnlyDictionary<string, int>> CountsForBidsAsync(IReadOnlyList<string> bidIds, CancellationToken cancellationToken = default)
    {
        await using var command = Db.CreateCommand("SELECT bid_id, count(*)::int FROM reservations WHERE bid_id = ANY(@b) GROUP BY bid_id");
        command.Parameters.AddWithValue("b", bidIds.ToArray());
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            counts[reader.GetString(0)] = reader.GetInt32(1);
        }
        return counts;
    }

    /// <summary>Of the given bids, those with a reservation that is not finished: a crash may have cut their fill short.</summary>
    public async Task<IReadOnlySet<string>> BidsWithLiveReservationsAsync(IReadOnlyList<string> bidIds, CancellationToken cancellationToken = default)
    {
        await using var command = Db.CreateCommand("""
            SELECT DISTINCT bid_id FROM reservations WHERE bid_id = ANY(@b) AND state IN ('Pending', 'Confirmed', 'Active')
            """);
        command.Parameters.AddWithValue("b", bidIds.ToArray());
        var ids = new HashSet<string>(StringComparer.Ordinal);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            ids.Add(reader.GetString(0));
        }
        return ids;
    }
}
