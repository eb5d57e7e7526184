using Npgsql;

namespace Marketplace.Data;

/// <summary>
/// A voucher as its owner and the programme office see it, read from the real columns of <c>vouchers</c>. The voucher's
/// grain keeps its own reader of the row (holds, frozen claim facts); this is only the public view.
/// </summary>
public static class VoucherViews
{
    /// <summary>The columns <see cref="Read"/> reads, in its order, starting at its first ordinal.</summary>
    public const string Columns = """
        id, program_id, tenant_id, state, face_value_fen, held_fen, captured_fen, returned_fen, coverage_bps,
        claimed_at, registration_deadline, registered_at, expires_at, activity::text, version
        """;

    /// <summary>How many columns <see cref="Columns"/> names: a query's further columns start here.</summary>
    public static readonly int ColumnCount = Columns.Split(',').Length;

    public static VoucherView Read(NpgsqlDataReader reader) => new(
        reader.GetString(0), reader.GetString(1), reader.GetString(2), Enum.Parse<VoucherState>(reader.GetString(3)),
        reader.GetInt64(4), reader.GetInt64(5), reader.GetInt64(6), reader.GetInt64(7), reader.GetInt32(8),
        reader.GetFieldValue<DateTimeOffset>(9), reader.GetFieldValue<DateTimeOffset>(10),
        reader.IsDBNull(11) ? null : reader.GetFieldValue<DateTimeOffset>(11),
        reader.IsDBNull(12) ? null : reader.GetFieldValue<DateTimeOffset>(12),
        reader.IsDBNull(13) ? null : StateJson.Deserialize<RdActivity>(reader.GetString(13)),
        reader.GetInt64(14));
}

/// <summary>How a good-till-cancelled compute bid is shown once one of its tries filled.</summary>
public static class ComputeBidViews
{
    /// <summary>
    /// The filled try under the compute bid's id, with the compute asked for. Its version is the compute bid's plus the
    /// try's, so it grows when either changes.
    /// </summary>
    public static BidView FilledAs(string id, ComputeOrder order, long version, BidView filled) =>
        filled with { Id = id, ComputeOrder = order, ComputeBidId = null, Version = version + filled.Version };
}

/// <summary>A provider's record of delivery over the reliability window, as <see cref="Reliability"/> scores it.</summary>
public sealed record ProviderDelivery(long Reservations, long Interrupted, ProviderRecord Record)
{
    /// <summary>
    /// Of the provider's reservations that end after <paramref name="fromHour"/> and were booked (confirmed, running,
    /// completed or interrupted): how many, how many were interrupted, the GPU-hours booked and the GPU-hours its outages
    /// took away. Read from the reservations' columns; the provider's grain and the web tier both use it.
    /// </summary>
    public static async Task<ProviderDelivery> ReadAsync(NpgsqlDataSource db, string providerId, long fromHour, CancellationToken cancellationToken = default)
    {
        await using var command = db.CreateCommand("""
            SELECT count(*), count(*) FILTER (WHERE state = 'Interrupted'),
                   coalesce(sum(gpus::bigint * (end_hour - start_hour)), 0),
                   coalesce(sum(gpus::bigint * (end_hour - released_from_hour)) FILTER (WHERE state = 'Interrupted'), 0)
            FROM reservations
            WHERE provider_id = @p AND end_hour > @from AND state IN ('Confirmed', 'Active', 'Completed', 'Interrupted')
            """);
        command.Parameters.AddWithValue("p", providerId);
        command.Parameters.AddWithValue("from", fromHour);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return new ProviderDelivery(reader.GetInt64(0), reader.GetInt64(1), new ProviderRecord(reader.GetInt64(2), reader.GetInt64(3)));
    }
}
