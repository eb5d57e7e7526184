using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Marketplace.Grains;

/// <summary>
/// Applies the rules that time, not requests, triggers: reservations start, end and settle; vouchers lapse and expire;
/// sagas and bids left pending by a crash are resumed; resting bids expire. A reminder keeps it alive across silo
/// failures; a timer ticks it between reminders. Each tick finds what is due with one query per kind.
/// </summary>
public sealed class SweeperGrain(
    NpgsqlDataSource db,
    IOptions<MarketOptions> options,
    [FromKeyedServices(Names.ClockKeys.Market)] TimeProvider clock,
    ILogger<SweeperGrain> logger) : Grain, ISweeperGrain, IRemindable
{
    private const int BatchSize = 500;
    private bool _ticking;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var interval = options.Value.SweepInterval;
        if (interval > TimeSpan.Zero)
        {
            this.RegisterGrainTimer(async _ => await Tick(), new GrainTimerCreationOptions(interval, interval) { Interleave = false });
        }
        return Task.CompletedTask;
    }

    public async Task Start() => await this.RegisterOrUpdateReminder(Names.Reminders.Sweep, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));

    public async Task ReceiveReminder(string reminderName, TickStatus status) => await Tick();

    public async Task<int> Tick()
    {
        if (_ticking)
        {
            return 0;
        }
        _ticking = true;
        try
        {
            var now = clock.GetUtcNow();
            var stale = now - options.Value.StaleAfter;
            var changed = 0;
            // Reservations first: a rental that ended before its voucher expired settles against the voucher.
            foreach (var id in await DueAsync("""
                SELECT id FROM reservations
                WHERE (state = 'Pending' AND updated_at < @stale)
                   OR (state = 'Confirmed' AND starts_at <= @now)
                   OR (state IN ('Confirmed', 'Active') AND ends_at <= @now)
                   OR (state = 'Interrupted' AND NOT settled AND ends_at <= @now)
                ORDER BY ends_at LIMIT @limit
                """, now, stale))
            {
                changed += await Safely(() => GrainFactory.GetGrain<IReservationGrain>(id).Advance(), id);
            }
            foreach (var id in await DueAsync("""
                SELECT id FROM vouchers
                WHERE (state = 'Claimed' AND registration_deadline < @now) OR (state = 'Active' AND expires_at <= @now)
                LIMIT @limit
                """, now, stale))
            {
                changed += await Safely(() => GrainFactory.GetGrain<IVoucherGrain>(id).ApplyDueTransitions(), id);
            }
            foreach (var model in await DueAsync("""
                SELECT DISTINCT gpu_model FROM bids
                WHERE (state = 'Resting' AND (good_until <= @now))
                   OR (state = 'Pending' AND updated_at < @stale)
                LIMIT @limit
                """, now, stale))
            {
                changed += await Safely(() => GrainFactory.GetGrain<IMarketGrain>(model).Sweep(), model);
            }
            return changed;
        }
        finally
        {
            _ticking = false;
        }
    }

    private async Task<int> Safely(Func<Task> action, string id)
    {
        try
        {
            await action();
            return 1;
        }
        catch (Exception e)
        {
            // One failure must not stop the others; it is due again on the next tick.
            logger.LogWarning(e, "Sweeping {Id} failed; it stays due", id);
            return 0;
        }
    }

    private async Task<List<string>> DueAsync(string sql, DateTimeOffset now, DateTimeOffset stale)
    {
        await using var command = db.CreateCommand(sql);
        command.Parameters.AddWithValue("now", now);
        command.Parameters.AddWithValue("stale", stale);
        command.Parameters.AddWithValue("limit", BatchSize);
        var ids = new List<string>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            ids.Add(reader.GetString(0));
        }
        return ids;
    }
}
