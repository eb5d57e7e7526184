using Npgsql;

namespace Marketplace.Storage;

/// <summary>A pool's hold for one reservation. Hours from <see cref="ReleasedFromHour"/> on were given back.</summary>
public sealed class PoolHold
{
    public long StartHour { get; set; }
    public int Hours { get; set; }
    public int Gpus { get; set; }
    public bool Confirmed { get; set; }
    /// <summary>When an unconfirmed hold lapses; null once confirmed.</summary>
    public DateTimeOffset? ExpiresAt { get; set; }
    public long? ReleasedFromHour { get; set; }
    public bool Earned { get; set; }

    public long EndHour => ReleasedFromHour is { } released ? Math.Clamp(released, StartHour, StartHour + Hours) : StartHour + Hours;
}

/// <summary>The persisted state of a GPU pool (row of <c>pools</c>).</summary>
public sealed class PoolState
{
    public required PoolSpec Spec { get; set; }
    public long AskFenPerGpuHour { get; set; }
    public int GpuCount { get; set; }
    public List<Outage> Outages { get; set; } = [];
    public Dictionary<string, PoolHold> Holds { get; set; } = [];
    public long EarningsFen { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }

    /// <summary>GPUs that can be sold in the hour: all of them, or none while an outage covers it.</summary>
    public int CapacityAt(long hour)
    {
        foreach (var outage in Outages)
        {
            if (hour >= Hours.Floor(outage.From) && hour < Hours.Ceiling(outage.To))
            {
                return 0;
            }
        }
        return GpuCount;
    }
}

public sealed class PoolStore(NpgsqlDataSource db, CommitBatcher? writer = null) : RowStore<PoolState>(db, writer, "pools",
[
    new("provider_id", s => s.Spec.ProviderId),
    new("gpu_model", s => s.Spec.GpuModel),
    new("province", s => s.Spec.Site.Province),
    new("site_id", s => s.Spec.Site.SiteId),
    new("gpu_count", s => s.GpuCount),
    new("ask_fen", s => s.AskFenPerGpuHour),
    new("updated_at", s => s.UpdatedAt),
])
{
    public async Task<IReadOnlyList<string>> PoolIdsForModelAsync(string gpuModel, CancellationToken cancellationToken = default)
    {
        await using var command = Db.CreateCommand("SELECT id FROM pools WHERE gpu_model = @m ORDER BY id");
        command.Parameters.AddWithValue("m", gpuModel);
        var ids = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            ids.Add(reader.GetString(0));
        }
        return ids;
    }
}
