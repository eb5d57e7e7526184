using System.Net;

namespace Marketplace.Load;

/// <summary>
/// Gentle, continuous, randomized activity for the dashboards: tenants bid (mostly filling, some resting under the asks),
/// ask for quotes, cancel resting bids and reservations; providers change prices and now and then report an outage.
/// Every failure is logged and the demo goes on; it stops only when cancelled.
/// </summary>
public sealed class Demo(Api api, Bids bids, Tally tally, Market market, double actionsPerSecond, Action<string> log)
{
    public async Task RunAsync(CancellationToken stop)
    {
        var random = new Random();
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1 / actionsPerSecond));
        while (await Tick(timer, stop))
        {
            var tenant = market.Tenants[random.Next(market.Tenants.Count)];
            try
            {
                var roll = random.NextDouble();
                var done = roll switch
                {
                    < 0.72 => await BidAsync(tenant, random, stop),
                    < 0.82 => await QuoteAsync(tenant, random, stop),
                    < 0.90 => await CancelRestingBidAsync(random, stop),
                    < 0.94 => await CancelReservationAsync(tenant, random, stop),
                    < 0.99 => await ChangePriceAsync(random, stop),
                    _ => await OutageAsync(random, stop),
                };
                if (done is { } what)
                {
                    log(what);
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or InvalidOperationException or System.Text.Json.JsonException)
            {
                log($"a call failed ({e.GetType().Name}: {e.Message}); going on");
            }
        }
    }

    private static async Task<bool> Tick(PeriodicTimer timer, CancellationToken stop)
    {
        try
        {
            return await timer.WaitForNextTickAsync(stop);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private async Task<string?> BidAsync(Tenant tenant, Random random, CancellationToken stop)
    {
        var body = bids.Make(tenant, random, DateTimeOffset.UtcNow, out var key);
        await bids.SendAsync(tenant, body, key, stop);
        return null;
    }

    private async Task<string?> QuoteAsync(Tenant tenant, Random random, CancellationToken stop)
    {
        var body = bids.Make(tenant, random, DateTimeOffset.UtcNow, out _);
        var answer = await api.PostAsync("/api/v1/quotes", tenant.Token, body, cancel: stop);
        return answer.Ok ? null : Failed("quote", answer);
    }

    private async Task<string?> CancelRestingBidAsync(Random random, CancellationToken stop)
    {
        var resting = tally.IdsInState(nameof(BidState.Resting));
        if (resting.Count == 0)
        {
            return null;
        }
        var id = resting[random.Next(resting.Count)];
        var answer = await api.DeleteAsync($"/api/v1/bids/{id}", bids.Owners[id].Token, stop);
        if (answer.Ok)
        {
            tally.ReadBack(id, answer.Text("state") ?? nameof(BidState.Cancelled));
        }
        return answer.Ok || answer.Status == HttpStatusCode.Conflict ? null : Failed("cancel bid", answer);
    }

    private async Task<string?> CancelReservationAsync(Tenant tenant, Random random, CancellationToken stop)
    {
        var mine = await api.GetAsync("/api/v1/tenants/me/reservations", tenant.Token, stop);
        if (!mine.Ok || mine.Body.ValueKind != System.Text.Json.JsonValueKind.Array)
        {
            return mine.Ok ? null : Failed("reservations", mine);
        }
        var confirmed = mine.Body.EnumerateArray().Where(r => r.GetProperty("state").GetString() == nameof(ReservationState.Confirmed))
            .Select(r => r.GetProperty("id").GetString()!).ToList();
        if (confirmed.Count == 0)
        {
            return null;
        }
        var id = confirmed[random.Next(confirmed.Count)];
        var answer = await api.PostAsync($"/api/v1/reservations/{id}/cancel", tenant.Token, null, cancel: stop);
        return answer.Ok ? $"{tenant.Plan.Id} cancelled reservation {id}" : answer.Status == HttpStatusCode.UnprocessableEntity ? null : Failed("cancel reservation", answer);
    }

    private async Task<string?> ChangePriceAsync(Random random, CancellationToken stop)
    {
        var pool = market.Pools[random.Next(market.Pools.Count)];
        var ask = pool.AskFenPerGpuHour * random.Next(90, 111) / 100;
        var answer = await api.SendAsync(HttpMethod.Patch, $"/api/v1/providers/{pool.Site.ProviderId}/pools/{pool.PoolId}",
            market.Providers[pool.Site.ProviderId].Token, new { askFenPerGpuHour = ask }, null, stop);
        return answer.Ok ? $"{pool.PoolId} now asks {ask} fen per GPU-hour" : Failed("price change", answer);
    }

    private async Task<string?> OutageAsync(Random random, CancellationToken stop)
    {
        var pool = market.Pools[random.Next(market.Pools.Count)];
        var from = Hours.ToTime(Hours.FirstBookable(DateTimeOffset.UtcNow) + random.Next(6, 200));
        var answer = await api.PostAsync($"/api/v1/providers/{pool.Site.ProviderId}/pools/{pool.PoolId}/outages", market.Providers[pool.Site.ProviderId].Token,
            new { from, to = from.AddHours(2), reason = "Cooling maintenance" }, cancel: stop);
        if (!answer.Ok)
        {
            return Failed("outage", answer);
        }
        var interrupted = answer.Body.GetProperty("interruptedReservationIds").GetArrayLength();
        var rematched = answer.Body.GetProperty("rematchedReservationIds").GetArrayLength();
        return $"outage of {pool.PoolId} {from:MM-dd HH}:00 for 2 h: {interrupted} reservations interrupted, {rematched} re-matched elsewhere";
    }

    private static string Failed(string what, Answer answer) => $"{what}: {(int)answer.Status} {answer.Problem}";
}
