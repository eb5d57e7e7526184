using Marketplace.Data;
using Marketplace.Domain;
using Marketplace.Storage;
using Marketplace.Testing;
using Microsoft.Extensions.Options;
using Xunit;

namespace Marketplace.Grains.Tests;

/// <summary>
/// The rows the web tier lists keep their public view beside the grain's state (<c>view_json</c>): written by the same
/// statement at the version written, and given to rows written before (migration 0123, and the silo for compute bids).
/// </summary>
public sealed class PublicViewStoreTests : IAsyncLifetime
{
    private static readonly DateTimeOffset Now = new(2026, 11, 23, 2, 0, 0, TimeSpan.Zero);
    private static readonly long StartHour = Hours.FirstBookable(Now) + 2;
    private TestDatabase _database = null!;

    public async Task InitializeAsync() => _database = await TestDatabase.CreateAsync(nameof(PublicViewStoreTests));

    public async Task DisposeAsync() => await _database.DisposeAsync();

    [Fact]
    public async Task A_bid_and_a_reservation_store_their_view_at_the_version_they_write()
    {
        var (bid, reservation) = await WriteBidAndReservationAsync();

        Assert.Equal(StateJson.Serialize(bid.ToView("bid-1", 2)), await ViewAsync<BidView>("bids", "bid-1"));
        Assert.Equal(StateJson.Serialize(reservation.ToView("res-1", 2)), await ViewAsync<ReservationView>("reservations", "res-1"));
        Assert.Equal(Hours.ToTime(StartHour + 1), StateJson.Deserialize<ReservationView>(await ViewAsync<ReservationView>("reservations", "res-1")).EndsAt);
    }

    [Fact]
    public async Task The_migration_gives_bids_and_reservations_written_before_it_the_views_their_stores_write()
    {
        await WriteBidAndReservationAsync();
        var bid = await ViewAsync<BidView>("bids", "bid-1");
        var reservation = await ViewAsync<ReservationView>("reservations", "res-1");
        await ExecuteAsync("UPDATE bids SET view_json = NULL; UPDATE reservations SET view_json = NULL");

        var script = SchemaMigrator.Scripts.Single(s => s.Version == 123).Sql;
        var backfills = script.Split(';')
            .Select(s => string.Join('\n', s.Split('\n').Where(l => !l.TrimStart().StartsWith("--", StringComparison.Ordinal))).Trim())
            .Where(s => s.StartsWith("UPDATE", StringComparison.Ordinal))
            .ToList();
        Assert.Equal(2, backfills.Count);
        foreach (var backfill in backfills)
        {
            await ExecuteAsync(backfill);
        }

        Assert.Equal(bid, await ViewAsync<BidView>("bids", "bid-1"));
        Assert.Equal(reservation, await ViewAsync<ReservationView>("reservations", "res-1"));
    }

    [Fact]
    public async Task A_compute_bid_listed_before_views_were_kept_gets_its_view_once_as_a_silo_starts()
    {
        var limits = new MarketLimits();
        var store = new ComputeBidStore(_database.DataSource, Options.Create(limits));
        var order = new ComputeOrder(4, 80, 4, Hours.ToTime(StartHour), Hours.ToTime(StartHour + 4), 2_000, null, null, null, null);
        var bid = new ComputeBidRecord("tenant-1", order, BidState.Resting, "resting", "resting", null, Now, Now, 1);
        await store.WriteAsync("compute-1", bid);
        var view = StateJson.Serialize(bid.ToView("compute-1", null, limits));
        Assert.Equal(view, await ViewAsync<BidView>("compute_bids", "compute-1"));

        await ExecuteAsync("UPDATE compute_bids SET view_json = NULL");
        Assert.Equal(1, await store.WriteMissingViewsAsync());
        Assert.Equal(view, await ViewAsync<BidView>("compute_bids", "compute-1"));
        Assert.Equal(0, await store.WriteMissingViewsAsync());
    }

    /// <summary>A bid written twice (placed, then filled) and its reservation written twice (confirmed, then cut short by an outage).</summary>
    private async Task<(BidRecord Bid, ReservationRecord Reservation)> WriteBidAndReservationAsync()
    {
        var bids = new BidStore(_database.DataSource);
        var order = new BidOrder("H800-80G", 2, 3, Hours.ToTime(StartHour), Hours.ToTime(StartHour), 3_000, null, null, TimeInForce.Ioc, null);
        var placed = new BidRecord("tenant-1", order, "hash", BidState.Pending, null, null, [], Now, Now);
        Assert.Equal(1, await bids.WriteAsync("bid-1", placed, 0));
        var plan = new ReservationPlan("res-1", "bid-1", "tenant-1", "pool-1", "provider-1", "91110000MA00000000", "H800-80G", "Gansu", "site-1",
            StartHour, 3, 2, 2_000, null, "Provider 1", "Gansu DC");
        var filled = placed.WithFill(new Fill("res-1", "pool-1", "provider-1", "Gansu", "site-1", plan.StartsAt, plan.EndsAt, 2, 2_000, plan.CostFen, 0,
            plan.CostFen));
        Assert.Equal(2, await bids.WriteAsync("bid-1", filled, 1));

        var reservations = new ReservationStore(_database.DataSource);
        var confirmed = new ReservationRecord(plan, ReservationState.Confirmed, 0, plan.CostFen, null, null, null, false, StartHour + 3, null, Now, Now);
        Assert.Equal(1, await reservations.WriteAsync("res-1", confirmed, 0));
        var cut = confirmed with { State = ReservationState.Interrupted, ReasonCode = "outage", Reason = "the pool had an outage", ReleasedFromHour = StartHour + 1 };
        Assert.Equal(2, await reservations.WriteAsync("res-1", cut, 1));
        return (filled, cut);
    }

    /// <summary>The row's view, read as the web tier reads it and written again as the grains write it (jsonb keeps no key order).</summary>
    private async Task<string> ViewAsync<T>(string table, string id) =>
        StateJson.Serialize(StateJson.Deserialize<T>(await _database.ScalarAsync<string>($"SELECT view_json::text FROM {table} WHERE id = @id", ("id", id))));

    private async Task ExecuteAsync(string sql)
    {
        await using var command = _database.DataSource.CreateCommand(sql);
        await command.ExecuteNonQueryAsync();
    }
}
