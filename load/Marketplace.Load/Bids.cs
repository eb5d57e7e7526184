using System.Diagnostics;
using System.Net;

namespace Marketplace.Load;

/// <summary>How the bids of a run look.</summary>
/// <param name="VoucherShare">Share of bids (0 to 1) a tenant with an active voucher pays partly with it.</param>
/// <param name="GtcShare">Share of bids that are short-lived limit orders (GTC for two minutes) instead of IOC.</param>
/// <param name="LowballShare">Share of GTC bids priced under every ask, so they rest (the demo cancels some of them).</param>
public sealed record BidMix(double VoucherShare, double GtcShare, double LowballShare);

/// <summary>Makes realistic bids and sends them, recording every answer in the <see cref="Tally"/>.</summary>
public sealed class Bids(Api api, Tally tally, string runId, BidMix mix)
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Tenant> _owners = new(StringComparer.Ordinal);
    private long _sequence;

    /// <summary>The tenant of each accepted bid (only its owner may read a bid back).</summary>
    public IReadOnlyDictionary<string, Tenant> Owners => _owners;

    /// <summary>A bid for 1–4 GPUs for 1–4 hours somewhere in the next two weeks, priced to fill at a typical ask (or under it).</summary>
    public object Make(Tenant tenant, Random random, DateTimeOffset now, out string key)
    {
        key = $"{runId}-{tenant.Plan.Id}-{Interlocked.Increment(ref _sequence)}";
        var model = GpuModels.Known[random.Next(GpuModels.Known.Count)];
        var gtc = random.NextDouble() < mix.GtcShare;
        var lowball = gtc && random.NextDouble() < mix.LowballShare;
        var baseAsk = World.BaseAsk[model];
        var limit = lowball ? baseAsk / 2 : baseAsk * 6 / 5 + 150;
        var earliest = Hours.ToTime(Hours.FirstBookable(now) + random.Next(0, 300));
        var voucher = tenant.VoucherActive && random.NextDouble() < mix.VoucherShare ? tenant.VoucherId : null;
        return new
        {
            gpuModel = model,
            gpuCount = random.Next(4) switch { 0 or 1 => 1, 2 => 2, _ => 4 },
            durationHours = random.Next(1, 5),
            earliestStart = earliest,
            latestStart = earliest.AddHours(24),
            maxFenPerGpuHour = limit,
            voucherId = voucher,
            timeInForce = gtc ? "Gtc" : "Ioc",
            goodUntil = gtc ? now.AddMinutes(2) : (DateTimeOffset?)null,
        };
    }

    /// <summary>Sends one bid and records what the API answered; never throws for an answer or a transport error.</summary>
    public async Task<string?> SendAsync(Tenant tenant, object body, string key, CancellationToken cancel)
    {
        tally.Sending();
        var started = Stopwatch.GetTimestamp();
        try
        {
            var answer = await api.PostAsync("/api/v1/bids", tenant.Token, body, key, cancel);
            var answeredAt = Stopwatch.GetTimestamp();
            tally.Api.Record(Stopwatch.GetElapsedTime(started, answeredAt));
            if (answer.Status is HttpStatusCode.Created or HttpStatusCode.OK && answer.Text("id") is { } id)
            {
                _owners[id] = tenant;
                tally.Answered(id, answer.Text("state") ?? nameof(BidState.Pending), answer.Text("reasonCode"), answeredAt);
                return id;
            }
            if ((int)answer.Status is >= 400 and < 500)
            {
                tally.Refusal($"{(int)answer.Status} {answer.Problem}");
            }
            else
            {
                tally.Error(((int)answer.Status).ToString(System.Globalization.CultureInfo.InvariantCulture));
            }
        }
        catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
        {
            tally.Error("timeout");
        }
        catch (HttpRequestException e)
        {
            tally.Error(e.HttpRequestError.ToString());
        }
        return null;
    }
}
