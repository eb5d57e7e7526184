using Marketplace.Matching;
using Xunit;

namespace Marketplace.Grains.Tests;

/// <summary>Rule 5 (matching) and rule 4's gang rule, on the pure matching component.</summary>
public sealed class MatchingEngineTests
{
    private const long Base = 500_000; // an hour slot
    private const int Horizon = 336;

    private static PoolBook Pool(string id, long ask, int gpus = 8, string province = "Gansu", int[]? used = null, int length = Horizon + 2,
        int? reliability = null)
    {
        var capacity = Enumerable.Repeat(gpus, length).ToArray();
        var free = capacity.Select((c, i) => c - (used is not null && i < used.Length ? used[i] : 0)).ToArray();
        return new PoolBook(id, province, ask, gpus, Base, capacity, free, reliability);
    }

    private static IReadOnlyList<PoolBook> Ladder(params PoolBook[] pools)
    {
        var ladder = new AskLadder();
        foreach (var pool in pools)
        {
            ladder.Put(pool);
        }
        return ladder.Pools;
    }

    private static BidRequest Bid(int gpus = 1, int hours = 2, long earliest = Base + 1, long? latest = null, long max = 2_000,
        IReadOnlySet<string>? provinces = null) => new(gpus, hours, earliest, latest ?? earliest, max, provinces);

    private static MatchDecision Decide(BidRequest bid, IReadOnlyList<PoolBook> pools, IReadOnlySet<string>? excluded = null) =>
        MatchingEngine.Decide(bid, pools, Base + 1, Base + 1 + Horizon, excluded);

    [Fact]
    public void Matching_picks_the_lowest_ask()
    {
        var decision = Decide(Bid(), Ladder(Pool("b", 1_600), Pool("a", 1_500), Pool("c", 1_700)));
        Assert.Equal("a", decision.Pool!.PoolId);
        Assert.Equal(1_500, decision.FenPerGpuHour);
    }

    [Fact]
    public void A_minimum_reliability_passes_over_cheaper_pools_of_providers_below_it_or_new()
    {
        var pools = Ladder(Pool("unreliable", 1_000, reliability: 8_999), Pool("new", 1_100), Pool("reliable", 1_200, reliability: 9_000));
        Assert.Equal("unreliable", Decide(Bid(), pools).Pool!.PoolId);
        Assert.Equal("unreliable", Decide(Bid() with { MinReliabilityBasisPoints = 0 }, pools).Pool!.PoolId);
        Assert.Equal("reliable", Decide(Bid() with { MinReliabilityBasisPoints = 9_000 }, pools).Pool!.PoolId);
        Assert.Equal("unreliable", Decide(Bid() with { MinReliabilityBasisPoints = 8_000 }, pools).Pool!.PoolId);
    }

    [Fact]
    public void A_bid_that_fails_only_for_its_minimum_reliability_says_so()
    {
        var decision = Decide(Bid() with { MinReliabilityBasisPoints = 9_500 }, Ladder(Pool("a", 1_000, reliability: 9_000), Pool("b", 1_100)));
        Assert.False(decision.Matched);
        Assert.Equal(NoMatchReason.BelowReliability, decision.Reason);
    }

    [Fact]
    public void The_buyer_pays_the_ask_not_its_limit()
    {
        var decision = Decide(Bid(max: 9_000), Ladder(Pool("a", 1_234)));
        Assert.Equal(1_234, decision.FenPerGpuHour);
    }

    [Fact]
    public void Matching_refuses_asks_above_the_limit_and_says_why()
    {
        var decision = Decide(Bid(max: 1_499), Ladder(Pool("a", 1_500)));
        Assert.False(decision.Matched);
        Assert.Equal(NoMatchReason.PriceAboveLimit, decision.Reason);
    }

    [Fact]
    public void Among_equal_asks_matching_routes_to_the_least_utilized_pool()
    {
        // Beijing 90% booked over the window, Gansu 10%: the bid goes to Gansu.
        var window = 10;
        var beijing = Pool("beijing", 1_500, 10, "Beijing", used: Enumerable.Repeat(9, window + 2).ToArray());
        var gansu = Pool("gansu", 1_500, 10, "Gansu", used: Enumerable.Repeat(1, window + 2).ToArray());
        var decision = Decide(Bid(gpus: 1, hours: 2, latest: Base + 1 + window - 2), Ladder(beijing, gansu));
        Assert.Equal("gansu", decision.Pool!.PoolId);
        Assert.Equal(1_000, decision.UtilizationBasisPoints);
    }

    [Fact]
    public void A_cheaper_busy_pool_still_beats_an_idle_dearer_one()
    {
        var busy = Pool("busy", 1_400, 10, used: Enumerable.Repeat(9, Horizon).ToArray());
        var idle = Pool("idle", 1_500, 10);
        Assert.Equal("busy", Decide(Bid(), Ladder(busy, idle)).Pool!.PoolId);
    }

    [Fact]
    public void Among_equal_asks_and_utilization_matching_takes_the_earliest_start()
    {
        // Both pools equally used over the window, but "late" is full in the first hours.
        var used = new int[Horizon];
        used[1] = 8;
        used[2] = 8;
        var late = Pool("a-late", 1_500, 8, used: used);
        var shifted = new int[Horizon];
        shifted[20] = 8;
        shifted[21] = 8;
        var early = Pool("b-early", 1_500, 8, used: shifted);
        var decision = Decide(Bid(hours: 2, earliest: Base + 1, latest: Base + 30), Ladder(late, early));
        Assert.Equal("b-early", decision.Pool!.PoolId);
        Assert.Equal(Base + 1, decision.StartHour);
    }

    [Fact]
    public void Equal_candidates_are_broken_by_pool_id_so_decisions_are_deterministic()
    {
        var pools = Ladder(Pool("p2", 1_500), Pool("p1", 1_500), Pool("p3", 1_500));
        var decisions = Enumerable.Range(0, 20).Select(_ => Decide(Bid(), pools).Pool!.PoolId).Distinct().ToList();
        Assert.Equal(["p1"], decisions);
    }

    [Fact]
    public void The_start_is_the_earliest_hour_in_the_window_with_the_whole_duration_free()
    {
        var used = new int[Horizon];
        used[2] = 8; // hour Base+2 full: a 3-hour job cannot start at Base+1 or Base+2
        var decision = Decide(Bid(hours: 3, earliest: Base + 1, latest: Base + 10), Ladder(Pool("a", 1_500, 8, used: used)));
        Assert.Equal(Base + 3, decision.StartHour);
    }

    [Fact]
    public void A_start_outside_the_window_is_never_chosen()
    {
        var used = Enumerable.Repeat(0, Horizon).ToArray();
        for (var h = 1; h <= 5; h++)
        {
            used[h] = 8;
        }
        var decision = Decide(Bid(hours: 1, earliest: Base + 1, latest: Base + 5), Ladder(Pool("a", 1_500, 8, used: used)));
        Assert.False(decision.Matched);
        Assert.Equal(NoMatchReason.NoCapacity, decision.Reason);
    }

    [Fact]
    public void A_gang_fills_in_one_pool_or_not_at_all()
    {
        // 12 GPUs are free in total over two pools, but no single pool has 6.
        var pools = Ladder(Pool("a", 1_500, 8, used: Enumerable.Repeat(3, Horizon).ToArray()),
            Pool("b", 1_500, 8, used: Enumerable.Repeat(3, Horizon).ToArray()),
            Pool("c", 1_500, 8, used: Enumerable.Repeat(4, Horizon).ToArray()));
        Assert.Equal(NoMatchReason.NoCapacity, Decide(Bid(gpus: 6), pools).Reason);
        Assert.Equal("a", Decide(Bid(gpus: 5), pools).Pool!.PoolId);
    }

    [Fact]
    public void A_gang_larger_than_any_pool_is_reported_as_such()
    {
        Assert.Equal(NoMatchReason.GangTooLarge, Decide(Bid(gpus: 9), Ladder(Pool("a", 1_500, 8))).Reason);
    }

    [Fact]
    public void Matching_keeps_to_the_allowed_provinces()
    {
        var pools = Ladder(Pool("cheap-gansu", 1_000, province: "Gansu"), Pool("dear-beijing", 2_000, province: "Beijing"));
        var beijingOnly = new HashSet<string> { "Beijing" };
        Assert.Equal("dear-beijing", Decide(Bid(max: 3_000, provinces: beijingOnly), pools).Pool!.PoolId);
        Assert.Equal(NoMatchReason.NoPoolInProvinces, Decide(Bid(provinces: new HashSet<string> { "Tibet" }), pools).Reason);
    }

    [Fact]
    public void An_empty_market_and_a_window_outside_the_horizon_are_told_apart()
    {
        Assert.Equal(NoMatchReason.NoPools, Decide(Bid(), Ladder()).Reason);
        Assert.Equal(NoMatchReason.OutsideHorizon, Decide(Bid(earliest: Base + Horizon + 5), Ladder(Pool("a", 1_500))).Reason);
        Assert.Equal(NoMatchReason.OutsideHorizon, Decide(Bid(earliest: Base - 10, latest: Base - 5), Ladder(Pool("a", 1_500))).Reason);
    }

    [Fact]
    public void A_window_starting_in_the_past_starts_at_the_first_bookable_hour()
    {
        var decision = Decide(Bid(earliest: Base - 5, latest: Base + 3), Ladder(Pool("a", 1_500)));
        Assert.Equal(Base + 1, decision.StartHour);
    }

    [Fact]
    public void Excluded_pools_are_skipped()
    {
        var pools = Ladder(Pool("a", 1_500), Pool("b", 1_600));
        Assert.Equal("b", Decide(Bid(), pools, new HashSet<string> { "a" }).Pool!.PoolId);
    }

    [Fact]
    public void Taking_capacity_in_the_book_is_seen_by_the_next_decision()
    {
        var pool = Pool("a", 1_500, 2);
        var pools = Ladder(pool);
        var first = Decide(Bid(gpus: 2, hours: 1), pools);
        pool.Take(first.StartHour, 1, 2);
        Assert.Equal(NoMatchReason.NoCapacity, Decide(Bid(gpus: 2, hours: 1), pools).Reason);
        pool.Give(first.StartHour, 1, 2);
        Assert.True(Decide(Bid(gpus: 2, hours: 1), pools).Matched);
    }

    [Fact]
    public void Resting_bids_are_kept_in_price_time_priority()
    {
        var book = new RestingBook();
        book.Add(new RestingBid("late-high", 2_000, 1, 3, "Beijing"));
        book.Add(new RestingBid("early-low", 1_000, 1, 1, "Beijing"));
        book.Add(new RestingBid("early-high", 2_000, 1, 2, "Gansu"));
        Assert.Equal(["early-high", "late-high", "early-low"], book.InPriorityOrder().Select(b => b.BidId));
        Assert.Equal([(2_000L, 2, 2), (1_000L, 1, 1)], book.Levels());
        Assert.True(book.Remove("early-high"));
        Assert.Equal(["late-high", "early-low"], book.InPriorityOrder().Select(b => b.BidId));
    }

    /// <summary>
    /// 5,000 random books and bids, each decided by the engine and by a brute-force reading of the rule: every
    /// feasible (pool, start) pair, ordered by ask, utilization, start and pool id.
    /// </summary>
    [Fact]
    public void Decisions_equal_a_brute_force_reading_of_the_rule_on_random_books()
    {
        var random = new Random(20261123);
        for (var round = 0; round < 5_000; round++)
        {
            var pools = new List<PoolBook>();
            var count = random.Next(0, 8);
            for (var p = 0; p < count; p++)
            {
                var gpus = random.Next(1, 9);
                var used = Enumerable.Range(0, 60).Select(_ => random.Next(0, gpus + 1)).ToArray();
                pools.Add(new PoolBook($"p{p}", random.Next(3) == 0 ? "Beijing" : "Gansu", random.Next(1, 4) * 100, gpus, Base,
                    Enumerable.Repeat(gpus, 60).ToArray(), Enumerable.Range(0, 60).Select(i => gpus - used[i]).ToArray()));
            }
            var earliest = Base + random.Next(-3, 40);
            var bid = new BidRequest(random.Next(1, 6), random.Next(1, 8), earliest, earliest + random.Next(0, 15), random.Next(1, 4) * 100,
                random.Next(4) == 0 ? new HashSet<string> { "Beijing" } : null);
            var ladder = Ladder([.. pools]);
            var actual = MatchingEngine.Decide(bid, ladder, Base + 1, Base + 50);
            var expected = BruteForce(bid, pools, Base + 1, Base + 50);
            Assert.Equal(expected?.Pool, actual.Pool?.PoolId);
            if (expected is not null)
            {
                Assert.Equal(expected.Value.Start, actual.StartHour);
            }
        }
    }

    private static (string Pool, long Start)? BruteForce(BidRequest bid, List<PoolBook> pools, long firstBookable, long horizonEnd)
    {
        var earliest = Math.Max(bid.EarliestStartHour, firstBookable);
        var latest = Math.Min(bid.LatestStartHour, horizonEnd - bid.Hours);
        var candidates = new List<(long Ask, int Utilization, long Start, string Pool)>();
        foreach (var pool in pools)
        {
            if (pool.AskFenPerGpuHour > bid.MaxFenPerGpuHour || bid.Provinces is not null && !bid.Provinces.Contains(pool.Province))
            {
                continue;
            }
            for (var start = earliest; start <= latest; start++)
            {
                var fits = true;
                for (var h = start; h < start + bid.Hours; h++)
                {
                    fits &= pool.FreeAt(h) >= bid.Gpus;
                }
                if (fits)
                {
                    long capacity = 0, free = 0;
                    for (var h = earliest; h < latest + bid.Hours; h++)
                    {
                        capacity += pool.CapacityAt(h);
                        free += Math.Max(0, pool.FreeAt(h));
                    }
                    var utilization = capacity == 0 ? 10_000 : (int)((capacity - free) * 10_000 / capacity);
                    candidates.Add((pool.AskFenPerGpuHour, utilization, start, pool.PoolId));
                    break; // the earliest start of this pool is its best
                }
            }
        }
        if (candidates.Count == 0)
        {
            return null;
        }
        var best = candidates.OrderBy(c => c.Ask).ThenBy(c => c.Utilization).ThenBy(c => c.Start).ThenBy(c => c.Pool, StringComparer.Ordinal).First();
        return (best.Pool, best.Start);
    }

    // ---- Rule 5 made a rule: the regulator's routing preference --------------------------------------------------

    private static readonly RoutingPreference West = new(RoutingPreference.WesternHubProvinces.ToHashSet(), 1_000); // within 10 %

    private static MatchDecision Route(BidRequest bid, IReadOnlyList<PoolBook> pools, RoutingPreference? routing) =>
        MatchingEngine.Decide(bid, pools, Base + 1, Base + 1 + Horizon, routing: routing);

    [Fact]
    public void Rule5_routing_sends_a_bid_to_a_western_hub_within_the_margin_of_the_best_ask_and_not_beyond_it()
    {
        var pools = Ladder(Pool("east", 1_000, province: "Shanghai"), Pool("west-near", 1_100, province: "Guizhou"),
            Pool("west-far", 1_050, province: "Gansu", gpus: 1));

        // Without the rule the cheapest pool wins; with it the cheapest western hub within 10 % does (and its ask is paid).
        Assert.Equal("east", Route(Bid(gpus: 2), pools, null).Pool!.PoolId);
        Assert.Equal(("west-near", 1_100L), (Route(Bid(gpus: 2), pools, West).Pool!.PoolId, Route(Bid(gpus: 2), pools, West).FenPerGpuHour));
        Assert.Equal("west-far", Route(Bid(gpus: 1), pools, West).Pool!.PoolId);

        // Beyond the margin, above the bid's limit, or outside the bid's provinces, the preference gives way.
        Assert.Equal("east", Route(Bid(gpus: 2), pools, West with { WithinBasisPoints = 500 }).Pool!.PoolId);
        Assert.Equal("east", Route(Bid(gpus: 2, max: 1_099), pools, West).Pool!.PoolId);
        Assert.Equal("east", Route(Bid(gpus: 2, provinces: new HashSet<string> { "Shanghai" }), pools, West).Pool!.PoolId);
        Assert.Equal("east", Route(Bid(gpus: 2), pools, RoutingPreference.None).Pool!.PoolId);
    }

    [Fact]
    public void Rule5_routing_never_turns_a_match_into_no_match()
    {
        var pools = Ladder(Pool("east", 1_000, province: "Shanghai"), Pool("west-full", 1_000, province: "Ningxia", used: [8, 8, 8, 8]));
        Assert.Equal("east", Route(Bid(), pools, West).Pool!.PoolId);
        Assert.Equal("west-full", Route(Bid(earliest: Base + 10), pools, West).Pool!.PoolId); // tie on ask: the western hub
    }
}
