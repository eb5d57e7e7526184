using System.Net;
using System.Text.Json;
using Marketplace.Testing;
using Xunit;

namespace Marketplace.Web.Tests;

public sealed class ComputeCluster : WebCluster;

[CollectionDefinition(Name)]
public sealed class ComputeCollection : ICollectionFixture<ComputeCluster>
{
    public const string Name = "compute";
}

/// <summary>
/// Rule 9: a bid may ask for PFLOPS-hours across models instead of one model. Each test lists its pools in a province of
/// its own and limits its bids to it, so the pools of the other tests never compete.
/// </summary>
[Collection(ComputeCollection.Name)]
public sealed class ComputeBidTests(ComputeCluster web)
{
    private readonly Api _api = new(web);

    // Catalogue figures the expectations below are worked from (dense BF16 TFLOPS).
    private const int H800Tflops = 989;
    private const int L40STflops = 362;
    private const int MttS4000Tflops = 100;

    private object Compute(string province, long pflopsHours, int hours, long maxFenPerPflopsHour, int? minMemoryGb = null,
        string[]? vendors = null, string[]? gpuModels = null, string timeInForce = "IOC")
    {
        var start = Hours.ToTime(Hours.FirstBookable(web.Clock.GetUtcNow()) + 1);
        return new
        {
            pflopsHours, durationHours = hours, earliestStart = start, latestStart = start, maxFenPerPflopsHour, minMemoryGb, vendors, gpuModels,
            allowedProvinces = new[] { province }, timeInForce,
        };
    }

    private async Task ListAsync(string province, params (string Model, int Gpus, long Ask)[] pools)
    {
        var (providerId, provider) = await _api.Provider(province);
        foreach (var (model, gpus, ask) in pools)
        {
            await _api.Pool(provider, providerId, model, gpus, ask);
        }
    }

    private static async Task<BidView> Placed(HttpResponseMessage response)
    {
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        return await response.Read<BidView>();
    }

    [Fact]
    public async Task Rule9_a_compute_bid_fills_the_model_cheapest_per_PFLOPS_hour_not_per_GPU_hour()
    {
        // Per GPU-hour the L40S is cheaper (700 < 1,500); per PFLOPS-hour the H800 is (ceil(1,500,000 / 989) = 1,517 fen
        // against ceil(700,000 / 362) = 1,934 fen).
        await ListAsync("Ningxia", ("H800-80G", 8, 1_500), ("L40S-48G", 16, 700));
        var (tenantId, sme) = await _api.Tenant();
        var request = Compute("Ningxia", pflopsHours: 10, hours: 2, maxFenPerPflopsHour: 2_000);

        var quote = await (await sme.PostJson("/api/v1/quotes", request)).Read<Quote>();
        Assert.True(quote.Available);
        Assert.Equal(1_500, quote.FenPerGpuHour);
        var models = quote.Models!;
        Assert.Equal(("H800-80G", 6, 1_517L, true), (models[0].GpuModel, models[0].Accelerators, models[0].FenPerPflopsHour!.Value, models[0].Quote.Available));
        Assert.Equal(("L40S-48G", 14, 1_934L, true), (models[1].GpuModel, models[1].Accelerators, models[1].FenPerPflopsHour!.Value, models[1].Quote.Available));
        Assert.All(models.Skip(2), m => Assert.False(m.Quote.Available));

        var key = Scenario.Unique("compute");
        var bid = await Placed(await sme.PostJson("/api/v1/bids", request, key));
        Assert.Equal(BidState.Filled, bid.State);
        Assert.Equal("H800-80G", bid.Order.GpuModel);
        // ceil(10 × 1000 / (989 × 2)) = 6 accelerators; the limit per GPU-hour is floor(2,000 × 989 / 1000) = 1,978 fen.
        Assert.Equal((6, 2, 1_978L, TimeInForce.Ioc), (bid.Order.GpuCount, bid.Order.DurationHours, bid.Order.MaxFenPerGpuHour, bid.Order.TimeInForce));
        var fill = Assert.Single(bid.Fills);
        Assert.Equal((6, 1_500L, 6L * 2 * 1_500), (fill.Gpus, fill.FenPerGpuHour, fill.CostFen));
        Assert.Equal(new BidCompute(H800Tflops, 2_000, 1_517, 6L * 2 * H800Tflops), bid.Compute);
        Assert.Equal(Ids.ComputeBid(tenantId, key, "H800-80G"), bid.Id);

        // On the wire, the bid and the book say it in both units (PFLOPS as thousandths: TFLOPS).
        var stored = JsonDocument.Parse(await (await sme.GetAsync($"/api/v1/bids/{bid.Id}")).Content.ReadAsStringAsync()).RootElement.GetProperty("compute");
        Assert.Equal((H800Tflops, 2_000L, 1_517L, 6L * 2 * H800Tflops), (stored.GetProperty("tflopsPerAccelerator").GetInt32(),
            stored.GetProperty("maxFenPerPflopsHour").GetInt64(), stored.GetProperty("fenPerPflopsHour").GetInt64(), stored.GetProperty("filledTflopsHours").GetInt64()));
        var book = JsonDocument.Parse(await (await sme.GetAsync("/api/v1/markets/H800-80G/book")).Content.ReadAsStringAsync()).RootElement;
        var ningxia = book.GetProperty("asks").EnumerateArray().Single(a => a.GetProperty("province").GetString() == "Ningxia").GetProperty("poolId").GetString();
        Assert.Equal(H800Tflops, book.GetProperty("compute").GetProperty("tflopsPerGpu").GetInt32());
        var ask = book.GetProperty("compute").GetProperty("asks").EnumerateArray().Single(a => a.GetProperty("poolId").GetString() == ningxia);
        Assert.Equal((8L * H800Tflops, 1_517L), (ask.GetProperty("capacityTflops").GetInt64(), ask.GetProperty("fenPerPflopsHour").GetInt64()));

        // The same key again is the same bid, not a second one.
        var again = await Placed(await sme.PostJson("/api/v1/bids", request, key));
        Assert.Equal(bid.Id, again.Id);
        Assert.Equal(fill.ReservationId, Assert.Single(again.Fills).ReservationId);

        // The same key with another compute request is refused.
        var changed = Compute("Ningxia", pflopsHours: 20, hours: 2, maxFenPerPflopsHour: 2_000);
        await Api.Problem(await sme.PostJson("/api/v1/bids", changed, key), HttpStatusCode.UnprocessableEntity, "idempotency-key-reused");
    }

    [Fact]
    public async Task Rule9_a_compute_bid_takes_only_accelerators_with_the_memory_and_of_the_vendors_asked_for()
    {
        // Per PFLOPS-hour: RTX 4090 ceil(100,000 / 165) = 607, MTT S4000 1,500, H800 1,517, L40S 1,934 fen.
        await ListAsync("Hainan", ("RTX4090-24G", 64, 100), ("MTTS4000-48G", 48, 150), ("H800-80G", 8, 1_500), ("L40S-48G", 16, 700));
        var (_, sme) = await _api.Tenant();

        // 32 GB at least: not the 24 GB RTX 4090, though it is cheapest; ceil(4 × 1000 / 100) = 40 MTT S4000.
        var domestic = await Placed(await sme.PostJson("/api/v1/bids", Compute("Hainan", 4, 1, 2_000, minMemoryGb: 32), Scenario.Unique("compute")));
        Assert.Equal(("MTTS4000-48G", BidState.Filled, 40), (domestic.Order.GpuModel, domestic.State, Assert.Single(domestic.Fills).Gpus));
        Assert.Equal(new BidCompute(MttS4000Tflops, 2_000, 1_500, 40L * MttS4000Tflops), domestic.Compute);

        // NVIDIA only: the H800 (1,517) before the L40S (1,934); ceil(4 × 1000 / 989) = 5 H800.
        var nvidia = await Placed(await sme.PostJson("/api/v1/bids", Compute("Hainan", 4, 1, 2_000, minMemoryGb: 32, vendors: ["NVIDIA"]),
            Scenario.Unique("compute")));
        Assert.Equal(("H800-80G", BidState.Filled, 5), (nvidia.Order.GpuModel, nvidia.State, Assert.Single(nvidia.Fills).Gpus));

        // Named models only: the L40S, at ceil(4 × 1000 / 362) = 12 accelerators.
        var named = await Placed(await sme.PostJson("/api/v1/bids", Compute("Hainan", 4, 1, 2_000, gpuModels: ["L40S-48G"]), Scenario.Unique("compute")));
        Assert.Equal(("L40S-48G", BidState.Filled, 12), (named.Order.GpuModel, named.State, Assert.Single(named.Fills).Gpus));
        Assert.Equal(1_934, named.Compute!.FenPerPflopsHour);
        Assert.Equal(L40STflops, named.Compute.TflopsPerAccelerator);
    }

    [Fact]
    public async Task Rule9_a_bid_names_either_a_model_or_compute_never_both()
    {
        var (_, sme) = await _api.Tenant();
        var start = Hours.ToTime(Hours.FirstBookable(web.Clock.GetUtcNow()) + 1);
        var both = new
        {
            gpuModel = "H800-80G", gpuCount = 2, maxFenPerGpuHour = 2_000, pflopsHours = 10L, maxFenPerPflopsHour = 2_000L, durationHours = 2,
            earliestStart = start, latestStart = start, timeInForce = "IOC",
        };
        var problem = await Api.Problem(await sme.PostJson("/api/v1/bids", both, Scenario.Unique("compute")), HttpStatusCode.UnprocessableEntity, "validation");
        var errors = problem.GetProperty("errors");
        Assert.Equal(["gpuCount", "gpuModel", "maxFenPerGpuHour"], errors.EnumerateObject().Select(e => e.Name).Order(StringComparer.Ordinal));

        // Vendors and models of the catalogue only.
        var unknown = new
        {
            pflopsHours = 10L, maxFenPerPflopsHour = 2_000L, durationHours = 2, earliestStart = start, latestStart = start, vendors = new[] { "NVIDIA", "Intel" },
            gpuModels = new[] { "B200-192G" },
        };
        var strange = await Api.Problem(await sme.PostJson("/api/v1/bids", unknown, Scenario.Unique("compute")), HttpStatusCode.UnprocessableEntity, "validation");
        Assert.Equal(["gpuModels[0]", "vendors[1]"], strange.GetProperty("errors").EnumerateObject().Select(e => e.Name).Order(StringComparer.Ordinal));

        // A resting compute bid lasts until its latest start: it takes no good-until time.
        var gtc = new
        {
            pflopsHours = 10L, maxFenPerPflopsHour = 2_000L, durationHours = 2, earliestStart = start, latestStart = start, timeInForce = "GTC",
            goodUntil = start,
        };
        var refused = await Api.Problem(await sme.PostJson("/api/v1/bids", gtc, Scenario.Unique("compute")), HttpStatusCode.UnprocessableEntity, "validation");
        Assert.Equal(["goodUntil"], refused.GetProperty("errors").EnumerateObject().Select(e => e.Name));
    }

    [Fact]
    public async Task Rule9_a_compute_bid_fills_nothing_when_every_price_per_PFLOPS_hour_is_above_its_limit()
    {
        // At 1,000 fen per PFLOPS-hour the H800 may cost 989 fen per GPU-hour (asks 1,500) and the L40S 362 (asks 700).
        await ListAsync("Guizhou", ("H800-80G", 8, 1_500), ("L40S-48G", 16, 700));
        var (tenantId, sme) = await _api.Tenant();
        var request = Compute("Guizhou", pflopsHours: 4, hours: 1, maxFenPerPflopsHour: 1_000, gpuModels: ["H800-80G", "L40S-48G"]);

        var quote = await (await sme.PostJson("/api/v1/quotes", request)).Read<Quote>();
        Assert.False(quote.Available);
        Assert.Equal([("H800-80G", 989L), ("L40S-48G", 362L)], quote.Models!.Select(m => (m.GpuModel, m.MaxFenPerGpuHour)));
        Assert.All(quote.Models!, m => Assert.Equal((false, (long?)null), (m.Quote.Available, m.FenPerPflopsHour)));

        var key = Scenario.Unique("compute");
        await Api.Problem(await sme.PostJson("/api/v1/bids", request, key), HttpStatusCode.UnprocessableEntity, "no-compute-offer");
        foreach (var model in new[] { "H800-80G", "L40S-48G" })
        {
            Assert.Equal(HttpStatusCode.NotFound, (await sme.GetAsync($"/api/v1/bids/{Ids.ComputeBid(tenantId, key, model)}")).StatusCode);
        }
    }

    /// <summary>
    /// The bid once it no longer rests. A market tells the resting compute bids of new capacity one way, after its answer,
    /// so the test reads the bid until it has changed (or gives up after a minute).
    /// </summary>
    private static async Task<BidView> NoLongerResting(HttpClient sme, string bidId)
    {
        var giveUp = DateTimeOffset.UtcNow.AddMinutes(1);
        while (true)
        {
            var bid = await (await sme.GetAsync($"/api/v1/bids/{bidId}")).Read<BidView>();
            if (bid.State != BidState.Resting || DateTimeOffset.UtcNow > giveUp)
            {
                return bid;
            }
            await Task.Delay(100);
        }
    }

    private static async Task<List<ReservationView>> Reservations(HttpClient sme) =>
        await (await sme.GetAsync("/api/v1/tenants/me/reservations")).Read<List<ReservationView>>();

    [Fact]
    public async Task Rule9_a_good_till_cancelled_compute_bid_rests_and_fills_once_when_capacity_of_a_qualifying_model_is_listed()
    {
        var (tenantId, sme) = await _api.Tenant();
        var request = Compute("Shanxi", pflopsHours: 4, hours: 1, maxFenPerPflopsHour: 2_000, timeInForce: "GTC");
        var key = Scenario.Unique("compute");
        var resting = await Placed(await sme.PostJson("/api/v1/bids", request, key));
        Assert.Equal((Ids.RestingComputeBid(tenantId, key), BidState.Resting, TimeInForce.Gtc), (resting.Id, resting.State, resting.Order.TimeInForce));
        Assert.Empty(resting.Fills);
        Assert.Equal((4L, 2_000L), (resting.ComputeOrder!.PflopsHours, resting.ComputeOrder.MaxFenPerPflopsHour));
        var wire = JsonDocument.Parse(await (await sme.GetAsync($"/api/v1/bids/{resting.Id}")).Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(("Resting", 4L), (wire.GetProperty("state").GetString(), wire.GetProperty("computeOrder").GetProperty("pflopsHours").GetInt64()));

        // Two qualifying models are listed at once, each market telling the bid: it fills once, in whichever offered the
        // compute first (ceil(4 × 1000 / 989) = 5 H800 or ceil(4 × 1000 / 362) = 12 L40S), never in both.
        var (providerId, provider) = await _api.Provider("Shanxi");
        await Task.WhenAll(_api.Pool(provider, providerId, "L40S-48G", 16, 700), _api.Pool(provider, providerId, "H800-80G", 8, 1_500));
        var filled = await NoLongerResting(sme, resting.Id);
        Assert.Equal((resting.Id, BidState.Filled), (filled.Id, filled.State));
        var fill = Assert.Single(filled.Fills);
        Assert.Contains((filled.Order.GpuModel, fill.Gpus, fill.FenPerGpuHour), new[] { ("H800-80G", 5, 1_500L), ("L40S-48G", 12, 700L) });
        Assert.Equal(fill.ReservationId, Assert.Single(await Reservations(sme)).Id);

        // More capacity afterwards, and the same request again, fill nothing more.
        await _api.Pool(provider, providerId, "H800-80G", 8, 1_400);
        Assert.Equal(resting.Id, (await Placed(await sme.PostJson("/api/v1/bids", request, key))).Id);
        var later = await (await sme.GetAsync($"/api/v1/bids/{resting.Id}")).Read<BidView>();
        Assert.Equal((BidState.Filled, fill.ReservationId), (later.State, Assert.Single(later.Fills).ReservationId));
        Assert.Single(await Reservations(sme));
    }

    [Fact]
    public async Task Rule9_a_cancelled_compute_bid_fills_nothing_when_capacity_appears()
    {
        var (_, cancelling) = await _api.Tenant();
        var (_, waiting) = await _api.Tenant();
        var cancelled = await Placed(await cancelling.PostJson("/api/v1/bids",
            Compute("Jilin", pflopsHours: 4, hours: 1, maxFenPerPflopsHour: 2_000, gpuModels: ["H800-80G"], timeInForce: "GTC"), Scenario.Unique("compute")));
        var answer = await cancelling.DeleteAsync($"/api/v1/bids/{cancelled.Id}");
        Assert.True(answer.IsSuccessStatusCode, await answer.Content.ReadAsStringAsync());
        Assert.Equal(BidState.Cancelled, (await answer.Read<BidView>()).State);
        var other = await Placed(await waiting.PostJson("/api/v1/bids",
            Compute("Jilin", pflopsHours: 4, hours: 1, maxFenPerPflopsHour: 2_000, gpuModels: ["H800-80G"], timeInForce: "GTC"), Scenario.Unique("compute")));

        // Eight H800 serve one bid of five: the bid that still rests takes them, the cancelled one nothing.
        var (providerId, provider) = await _api.Provider("Jilin");
        await _api.Pool(provider, providerId, "H800-80G", 8, 1_500);
        Assert.Equal(BidState.Filled, (await NoLongerResting(waiting, other.Id)).State);
        var after = await (await cancelling.GetAsync($"/api/v1/bids/{cancelled.Id}")).Read<BidView>();
        Assert.Equal((BidState.Cancelled, 0), (after.State, after.Fills.Count));
        Assert.Empty(await Reservations(cancelling));
    }

    [Fact]
    public async Task Rule9_a_resting_compute_bid_outlives_a_restart_and_fills_after_it()
    {
        var (_, sme) = await _api.Tenant();
        var resting = await Placed(await sme.PostJson("/api/v1/bids",
            Compute("Heilongjiang", pflopsHours: 4, hours: 1, maxFenPerPflopsHour: 2_000, gpuModels: ["H800-80G"], timeInForce: "GTC"), Scenario.Unique("compute")));

        await web.RestartSilosAsync();

        var stored = await (await sme.GetAsync($"/api/v1/bids/{resting.Id}")).Read<BidView>();
        Assert.Equal((BidState.Resting, 4L), (stored.State, stored.ComputeOrder!.PflopsHours));
        var (providerId, provider) = await _api.Provider("Heilongjiang");
        await _api.Pool(provider, providerId, "H800-80G", 8, 1_500);
        var filled = await NoLongerResting(sme, resting.Id);
        Assert.Equal((BidState.Filled, 5), (filled.State, Assert.Single(filled.Fills).Gpus));
    }

    private static readonly TimeSpan Bounded = TimeSpan.FromSeconds(15);

    private static async Task<List<BidView>> Bids(HttpClient sme) => await (await sme.GetAsync("/api/v1/tenants/me/bids")).Read<List<BidView>>();

    private static string? Pushed(JsonElement payload, string property) => payload.GetProperty("data").GetProperty(property).GetString();

    /// <summary>A compute order as the API writes it (its lists compare by content, not by reference).</summary>
    private static string Json(ComputeOrder? order) => JsonSerializer.Serialize(order, WebCluster.Json);

    [Fact]
    public async Task Rule9_an_SME_lists_its_resting_compute_bid_and_is_told_live_when_it_fills()
    {
        var (tenantId, sme) = await _api.Tenant();
        await using var owner = await web.Hub(Names.Roles.Sme, tenantId: tenantId);
        var key = Scenario.Unique("compute");
        var resting = await Placed(await sme.PostJson("/api/v1/bids",
            Compute("Qinghai", pflopsHours: 4, hours: 1, maxFenPerPflopsHour: 2_000, gpuModels: ["H800-80G"], timeInForce: "GTC"), key));
        Assert.Equal(BidState.Resting, resting.State);

        // The list shows the resting compute bid with the compute asked for, as the bid's own answer showed it.
        var listed = Assert.Single(await Bids(sme));
        Assert.Equal((resting.Id, BidState.Resting, resting.Version, TimeInForce.Gtc), (listed.Id, listed.State, listed.Version, listed.Order.TimeInForce));
        Assert.Equal(Json(resting.ComputeOrder), Json(listed.ComputeOrder));
        var wire = JsonDocument.Parse(await (await sme.GetAsync("/api/v1/tenants/me/bids")).Content.ReadAsStringAsync()).RootElement[0];
        Assert.Equal((4L, 2_000L), (wire.GetProperty("computeOrder").GetProperty("pflopsHours").GetInt64(),
            wire.GetProperty("computeOrder").GetProperty("maxFenPerPflopsHour").GetInt64()));
        var restingPush = await owner.WaitFor(Names.Hub.BidUpdated, p => Pushed(p, "id") == resting.Id, Bounded);
        Assert.Equal((resting.Version, "Resting"), (restingPush.Payload.GetProperty("seq").GetInt64(), Pushed(restingPush.Payload, "state")));

        // Capacity is listed: the owner is told the compute bid filled, under its own id, with the compute it asked for.
        var (providerId, provider) = await _api.Provider("Qinghai");
        await _api.Pool(provider, providerId, "H800-80G", 8, 1_500);
        var filledPush = await owner.WaitFor(Names.Hub.BidUpdated, p => Pushed(p, "id") == resting.Id && Pushed(p, "state") == "Filled", Bounded);
        var pushed = filledPush.Payload.GetProperty("data");
        Assert.Equal(4L, pushed.GetProperty("computeOrder").GetProperty("pflopsHours").GetInt64());
        Assert.Equal(("H800-80G", 5), (pushed.GetProperty("order").GetProperty("gpuModel").GetString(), pushed.GetProperty("fills")[0].GetProperty("gpus").GetInt32()));
        Assert.False(pushed.TryGetProperty("computeBidId", out _));

        // The list shows the compute bid filled, at the version pushed, and not the try that filled it as a bid of its own.
        var filled = Assert.Single(await Bids(sme));
        Assert.Equal((resting.Id, BidState.Filled, filledPush.Payload.GetProperty("seq").GetInt64(), 5),
            (filled.Id, filled.State, filled.Version, Assert.Single(filled.Fills).Gpus));
        Assert.True(filled.Version > resting.Version);
        Assert.Equal(Json(resting.ComputeOrder), Json(filled.ComputeOrder));
        Assert.Null(filled.ComputeBidId);
        Assert.Equal(filled.Fills[0].ReservationId, Assert.Single(await Reservations(sme)).Id);

        // The try itself still answers by its id and says whose try it is.
        var trying = await owner.WaitFor(Names.Hub.BidUpdated, p => Pushed(p, "id") != resting.Id && Pushed(p, "state") == "Filled", Bounded);
        var tryId = Pushed(trying.Payload, "id")!;
        Assert.Equal(resting.Id, Pushed(trying.Payload, "computeBidId"));
        var tryBid = await (await sme.GetAsync($"/api/v1/bids/{tryId}")).Read<BidView>();
        Assert.Equal((resting.Id, BidState.Filled), (tryBid.ComputeBidId, tryBid.State));
    }

    [Fact]
    public async Task Rule9_an_SME_is_told_live_when_its_resting_compute_bid_is_cancelled_and_lists_it_cancelled()
    {
        var (tenantId, sme) = await _api.Tenant();
        await using var owner = await web.Hub(Names.Roles.Sme, tenantId: tenantId);
        var model = await Placed(await sme.PostJson("/api/v1/bids", new
        {
            gpuModel = "H800-80G", gpuCount = 1, durationHours = 1, earliestStart = Hours.ToTime(Hours.FirstBookable(web.Clock.GetUtcNow()) + 1),
            latestStart = Hours.ToTime(Hours.FirstBookable(web.Clock.GetUtcNow()) + 1), maxFenPerGpuHour = 100, allowedProvinces = new[] { "Tibet" },
            timeInForce = "IOC",
        }, Scenario.Unique("bid")));
        var resting = await Placed(await sme.PostJson("/api/v1/bids",
            Compute("Tibet", pflopsHours: 4, hours: 1, maxFenPerPflopsHour: 2_000, gpuModels: ["H800-80G"], timeInForce: "GTC"), Scenario.Unique("compute")));

        var answer = await sme.DeleteAsync($"/api/v1/bids/{resting.Id}");
        Assert.True(answer.IsSuccessStatusCode, await answer.Content.ReadAsStringAsync());
        var cancelled = await answer.Read<BidView>();
        Assert.Equal(BidState.Cancelled, cancelled.State);
        var pushed = await owner.WaitFor(Names.Hub.BidUpdated, p => Pushed(p, "id") == resting.Id && Pushed(p, "state") == "Cancelled", Bounded);
        Assert.Equal(cancelled.Version, pushed.Payload.GetProperty("seq").GetInt64());
        Assert.True(cancelled.Version > resting.Version);

        // The list has both kinds of bid, the compute bid cancelled and with the compute it asked for.
        var listed = (await Bids(sme)).ToDictionary(b => b.Id);
        Assert.Equal([(model.Id, BidState.Rejected), (resting.Id, BidState.Cancelled)],
            listed.Values.Select(b => (b.Id, b.State)).OrderBy(b => b.Id == resting.Id));
        Assert.Equal((Json(resting.ComputeOrder), cancelled.Version), (Json(listed[resting.Id].ComputeOrder), listed[resting.Id].Version));
        Assert.Null(listed[model.Id].ComputeOrder);
    }

    [Fact]
    public async Task Rule9_an_SME_is_told_live_when_its_resting_compute_bid_expires_unfilled_and_lists_it_expired()
    {
        var (tenantId, sme) = await _api.Tenant();
        await using var owner = await web.Hub(Names.Roles.Sme, tenantId: tenantId);
        var resting = await Placed(await sme.PostJson("/api/v1/bids",
            Compute("Xinjiang", pflopsHours: 4, hours: 1, maxFenPerPflopsHour: 2_000, gpuModels: ["H800-80G"], timeInForce: "GTC"), Scenario.Unique("compute")));
        Assert.Equal(BidState.Resting, resting.State);

        // Its latest start passes; the next notice of H800 capacity (a pool listed elsewhere) ends it unfilled.
        web.Advance(TimeSpan.FromHours(3));
        var (providerId, provider) = await _api.Provider("Sichuan");
        await _api.Pool(provider, providerId, "H800-80G", 8, 1_500);
        var pushed = await owner.WaitFor(Names.Hub.BidUpdated, p => Pushed(p, "id") == resting.Id && Pushed(p, "state") == "Expired", Bounded);
        Assert.Equal("expired", Pushed(pushed.Payload, "reasonCode"));

        var listed = Assert.Single(await Bids(sme));
        Assert.Equal((resting.Id, BidState.Expired, pushed.Payload.GetProperty("seq").GetInt64(), 0),
            (listed.Id, listed.State, listed.Version, listed.Fills.Count));
        Assert.True(listed.Version > resting.Version);
        Assert.Empty(await Reservations(sme));
    }
}
