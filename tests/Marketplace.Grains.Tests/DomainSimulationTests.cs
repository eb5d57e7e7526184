using Marketplace.Domain;
using Marketplace.Domain.Rules;
using Marketplace.Matching;
using Xunit;
using Xunit.Abstractions;

namespace Marketplace.Grains.Tests;

/// <summary>
/// A deterministic simulation of the market's pure rules: a seeded generator runs 100,000 operations (bids paid in cash
/// and by vouchers, compute bids across three models' markets (rule 9), stacked vouchers, cancels, outages, price and capacity changes, approval notices, routing rules, the
/// clock moving past expiries, companies paying in cash) against the matching engine, the pool books, the funding rules and
/// the money formulas, and checks every invariant after every step against an independent record of what was sold and of
/// every company's prepaid cash (rule 8: held at the fill, captured at settlement, charged at a late cancel, refunded by
/// the provider after an outage, capped while unsettled). A failure prints its seed;
/// set MARKETPLACE_SIMULATION_SEED to replay it.
/// </summary>
public sealed class DomainSimulationTests(ITestOutputHelper output)
{
    private const int Operations = 100_000;
    private const int Horizon = 14 * 24;

    [Fact]
    public void Every_invariant_holds_after_every_step_of_a_hundred_thousand_seeded_operations()
    {
        var seed = int.TryParse(Environment.GetEnvironmentVariable("MARKETPLACE_SIMULATION_SEED"), out var given) ? given : 20261129;
        output.WriteLine($"seed {seed} (replay with MARKETPLACE_SIMULATION_SEED={seed})");
        var simulation = new Simulation(seed);
        for (var step = 0; step < Operations; step++)
        {
            string operation;
            try
            {
                operation = simulation.Step();
            }
            catch (InvalidOperationException broken)
            {
                Assert.Fail($"seed {seed}, step {step}: {broken.Message}");
                return;
            }
            if (simulation.Violation() is { } violation)
            {
                Assert.Fail($"seed {seed}, step {step} ({operation}): {violation}");
            }
        }
        output.WriteLine(simulation.Summary());
        // The run exercised what it is meant to: every outcome happened many times.
        Assert.All(simulation.Counts, c => Assert.True(c.Value >= 100, $"{c.Key} happened only {c.Value} times"));
    }

    private sealed class Simulation
    {
        private const int PoolCount = 24; // 8 in each model's market
        private const int CompanyCount = 5;

        /// <summary>The market's terms, with a cap on unsettled holdings small enough to be reached often.</summary>
        private static readonly MarketLimits Terms = new() { MaxUnsettledFenPerTenant = 200_000 };
        private const int Span = 6_000; // absolute hours the simulation can reach
        private static readonly string[] ProvinceNames = ["Gansu", "Guizhou", "Shanghai", "Beijing", "Ningxia", "Guangdong"];
        /// <summary>Models with published TFLOPS figures (989, 312 and 362), so that compute bids compare them.</summary>
        private static readonly string[] Models = ["H800-80G", "A800-80G", "L40S-48G"];

        private readonly Random _random;
        private readonly int[][] _capacity = new int[PoolCount][];
        private readonly int[][] _used = new int[PoolCount][];
        private readonly long[] _ask = new long[PoolCount];
        private readonly int[] _gpus = new int[PoolCount];
        /// <summary>One market per model, as in the system: a pool sells in its model's market only.</summary>
        private readonly Dictionary<string, AskLadder> _markets = Models.ToDictionary(m => m, _ => new AskLadder(), StringComparer.Ordinal);
        private readonly List<ApprovalStep> _notices = [];
        private readonly List<Voucher> _vouchers = [];
        private readonly List<Rental> _rentals = [];
        private readonly Company[] _companies = Enumerable.Range(0, CompanyCount).Select(_ => new Company()).ToArray();
        private long _paidIn;
        private long _providersCash;
        private RoutingPreference _routing = RoutingPreference.None;
        private long _now = 100;
        private long _bids;

        public Dictionary<string, int> Counts { get; } = new(StringComparer.Ordinal);

        private sealed class Voucher(long face, int coverage, bool stackable, long expiresHour, string[] forbidden)
        {
            public long Face { get; } = face;
            public int Coverage { get; } = coverage;
            public bool Stackable { get; } = stackable;
            public long ExpiresHour { get; } = expiresHour;
            public string[] Forbidden { get; } = forbidden;
            public long Held { get; set; }
            public long Captured { get; set; }
            public long Available => Face - Held - Captured;
        }

        /// <summary>A company's prepaid cash as the ledger has it: available, held for its rentals, and the cost it holds unsettled.</summary>
        private sealed class Company
        {
            public long Available { get; set; }
            public long Held { get; set; }
            public long Unsettled { get; set; }
        }

        private sealed class Rental(int pool, long start, int hours, int gpus, long ask, Company company, long cashHold)
        {
            public int Pool { get; } = pool;
            public long Start { get; } = start;
            public int Hours { get; set; } = hours;
            public int BookedHours { get; } = hours;
            public int Gpus { get; } = gpus;
            public long Ask { get; } = ask;
            public long Cost => Money.Cost(Ask, Gpus, Hours);
            public long BookedCost => Money.Cost(Ask, Gpus, BookedHours);
            public Company Company { get; } = company;
            public long CashHold { get; } = cashHold;
            public List<(Voucher Voucher, long Held)> Funding { get; } = [];
            public bool Settled { get; set; }
            public bool Interrupted { get; set; }
        }

        public Simulation(int seed)
        {
            _random = new Random(seed);
            for (var p = 0; p < PoolCount; p++)
            {
                _gpus[p] = _random.Next(1, 17);
                _ask[p] = _random.Next(8, 21) * 100;
                _capacity[p] = Enumerable.Repeat(_gpus[p], Span).ToArray();
                _used[p] = new int[Span];
                Rebuild(p);
            }
            for (var v = 0; v < 12; v++)
            {
                _vouchers.Add(NewVoucher());
            }
        }

        private static string CreditCode(int pool) => $"code-{pool % 6}";

        private static string Province(int pool) => ProvinceNames[pool % ProvinceNames.Length];

        private static string ModelOf(int pool) => Models[pool % Models.Length];

        private static int PoolOf(PoolBook book) => int.Parse(book.PoolId.AsSpan(5), provider: null);

        private Voucher NewVoucher() => new(_random.Next(1, 200) * 1_000, _random.Next(1, 11) * 1_000, _random.Next(2) == 0,
            _now + _random.Next(1, 400), _random.Next(3) == 0 ? [CreditCode(_random.Next(PoolCount))] : []);

        /// <summary>The market's view of a pool, from the pool's own record.</summary>
        private void Rebuild(int p)
        {
            var from = _now + 1;
            var capacity = new int[Horizon + 24];
            var free = new int[Horizon + 24];
            for (var i = 0; i < capacity.Length && from + i < Span; i++)
            {
                capacity[i] = _capacity[p][from + i];
                free[i] = _capacity[p][from + i] - _used[p][from + i];
            }
            _markets[ModelOf(p)].Put(new PoolBook($"pool-{p}", Province(p), _ask[p], _gpus[p], from, capacity, free));
        }

        private void Count(string what) => Counts[what] = Counts.GetValueOrDefault(what) + 1;

        public string Step()
        {
            var roll = _random.Next(100);
            return roll switch
            {
                < 42 => Bid(),
                < 50 => ComputeBid(),
                < 60 => Cancel(),
                < 66 => Outage(),
                < 72 => ChangePool(),
                < 80 => Notice(),
                < 83 => Route(),
                < 88 => Stack(),
                _ => Tick(),
            };
        }

        /// <summary>What every bid draws first: its voucher (or cash alone), hours, earliest start and allowed provinces.</summary>
        private (Voucher? Voucher, int Hours, long Earliest, HashSet<string>? Provinces) NextBid()
        {
            _bids++;
            var voucher = _random.Next(2) == 0 ? _vouchers[_random.Next(_vouchers.Count)] : null;
            var hours = _random.Next(1, 13);
            var earliest = _now + _random.Next(1, 48);
            var provinces = _random.Next(4) == 0 ? new HashSet<string>(ProvinceNames.OrderBy(_ => _random.Next()).Take(2)) : null;
            return (voucher, hours, earliest, provinces);
        }

        private string Bid()
        {
            var (voucher, hours, earliest, provinces) = NextBid();
            var bid = new BidRequest(_random.Next(1, 9), hours, earliest, earliest + _random.Next(0, 24), _random.Next(8, 25) * 100, provinces);
            var model = Models[_random.Next(Models.Length)];
            var decision = MatchingEngine.Decide(bid, _markets[model].Pools, _now + 1, _now + 1 + Horizon, null, Fundable(voucher, hours), _routing);
            return Fill(bid, decision, voucher, hours, "");
        }

        /// <summary>
        /// Rule 9: a bid for PFLOPS-hours is sized for every model that can serve it, decided in each model's market, and
        /// fills the offer cheapest per PFLOPS-hour, delivering at least what it asked for within its limit per PFLOPS-hour.
        /// </summary>
        private string ComputeBid()
        {
            var (voucher, hours, earliest, provinces) = NextBid();
            var pflopsHours = _random.Next(1, 9);
            var limit = _random.Next(8, 61) * 100L;
            var offers = new List<(ComputeOffer Offer, ComputeSizing Sizing, BidRequest Bid, MatchDecision Decision)>();
            foreach (var sizing in ComputeRules.Candidates(pflopsHours, 0, hours, limit, null, Models, Terms))
            {
                var bid = new BidRequest(sizing.Accelerators, hours, earliest, earliest + _random.Next(0, 24), sizing.MaxFenPerGpuHour, provinces);
                var decision = MatchingEngine.Decide(bid, _markets[sizing.Accelerator.Id].Pools, _now + 1, _now + 1 + Horizon, null,
                    Fundable(voucher, hours), _routing);
                if (decision.Matched)
                {
                    offers.Add((new ComputeOffer(sizing.Accelerator.Id, sizing.Accelerator.DenseFp16Tflops!.Value, decision.FenPerGpuHour,
                        ToTime(decision.StartHour), sizing.CataloguePosition), sizing, bid, decision));
                }
            }
            if (offers.Count == 0)
            {
                Count("compute: no match");
                return $"compute bid for {pflopsHours} PFLOPS-hours unmatched";
            }
            var best = ComputeRules.Rank(offers.Select(o => o.Offer))[0];
            var chosen = offers.First(o => ReferenceEquals(o.Offer, best));
            var tflops = best.Tflops;
            Check(ComputeRules.FenPerPflopsHour(best.FenPerGpuHour, tflops) <= limit, "a compute fill is within its limit per PFLOPS-hour");
            Check(ComputeRules.TflopsHours(chosen.Sizing.Accelerators, hours, tflops) >= pflopsHours * ComputeRules.TflopsPerPflops,
                "a compute fill delivers at least the PFLOPS-hours asked for");
            Check(offers.All(o => best.FenPerGpuHour * o.Offer.Tflops <= o.Offer.FenPerGpuHour * tflops),
                "a compute bid fills the offer cheapest per PFLOPS-hour");
            Check(ModelOf(PoolOf(chosen.Decision.Pool!)) == best.GpuModel, "a compute fill takes a pool of the model it chose");
            return Fill(chosen.Bid, chosen.Decision, voucher, hours, "compute ");
        }

        /// <summary>The start windows the voucher can pay on each pool, or null for a bid paid in cash alone.</summary>
        private Func<PoolBook, IReadOnlyList<(long Earliest, long Latest)>>? Fundable(Voucher? voucher, int hours)
        {
            var notices = _notices.ToList();
            return voucher is null ? null : pool =>
                FundingRules.StartWindows(ToTime(voucher.ExpiresHour), notices, voucher.Forbidden, CreditCode(PoolOf(pool)),
                        TimeSpan.FromHours(hours))
                    .Select(w => (Hours.Ceiling(w.Earliest), w.Latest == DateTimeOffset.MaxValue ? long.MaxValue : Hours.Floor(w.Latest)))
                    .ToList();
        }

        /// <summary>What follows a decision, the same for a model bid and a compute bid (<paramref name="kind"/> says which in the counts).</summary>
        private string Fill(BidRequest bid, MatchDecision decision, Voucher? voucher, int hours, string kind)
        {
            if (!decision.Matched)
            {
                if (decision.Reason == NoMatchReason.NotFundable)
                {
                    var pool = PoolOf(decision.UnfundablePool!);
                    if (Refusal(voucher!, pool, decision.UnfundableStartHour, hours) is null)
                    {
                        throw new InvalidOperationException($"pool {pool} was called unfundable at {decision.UnfundableStartHour} but the voucher can pay it");
                    }
                    Count("voucher cannot pay");
                }
                Count("no match");
                return $"bid {bid} unmatched: {decision.Reason}";
            }
            var p = PoolOf(decision.Pool!);
            Check(decision.FenPerGpuHour == _ask[p] && _ask[p] <= bid.MaxFenPerGpuHour, "the buyer pays the pool's ask, within its limit");
            // Rule 8: the fill holds the company's cash (its share, never less than the most a cancel costs) or is refused.
            var company = _companies[_random.Next(CompanyCount)];
            var cost = Money.Cost(_ask[p], bid.Gpus, hours);
            var voucherShare = voucher is null ? 0 : Money.StackedShare(cost, 0, voucher.Coverage, voucher.Available);
            var cashHold = Money.CashHold(cost, voucherShare, Terms.CancellationChargeBasisPoints);
            if (company.Available < cashHold)
            {
                Count("refused: cash");
                return $"bid {bid} refused: {company.Available} fen available, {cashHold} to hold";
            }
            if (company.Unsettled + cost > Terms.MaxUnsettledFenPerTenant)
            {
                Count("refused: unsettled cap");
                return $"bid {bid} refused: {company.Unsettled} fen unsettled and {cost} more";
            }
            Check(decision.StartHour >= bid.EarliestStartHour && decision.StartHour <= bid.LatestStartHour && decision.StartHour > _now
                  && decision.StartHour + hours <= _now + 1 + Horizon, "the start lies in the bid's window and the horizon");
            Check(bid.Provinces is null || bid.Provinces.Contains(Province(p)), "the pool is in an allowed province");
            if (voucher is not null)
            {
                Check(Refusal(voucher, p, decision.StartHour, hours) is null, "a voucher bid fills only where its voucher pays for every hour");
            }
            for (var h = decision.StartHour; h < decision.StartHour + hours; h++)
            {
                _used[p][h] += bid.Gpus; // the pool's own record: checked against capacity after the step
            }
            decision.Pool!.Take(decision.StartHour, hours, bid.Gpus);
            var rental = new Rental(p, decision.StartHour, hours, bid.Gpus, _ask[p], company, cashHold);
            _rentals.Add(rental);
            if (voucher is not null)
            {
                Fund(rental, voucher);
                Check(rental.Funding.Sum(f => f.Held) == voucherShare, "the voucher holds the share the cash hold was worked out from");
            }
            company.Available -= cashHold;
            company.Held += cashHold;
            company.Unsettled += cost;
            Count(kind + (voucher is null ? "cash fill" : "voucher fill"));
            return $"bid {bid} filled on pool {p} at {decision.StartHour}";
        }

        private (string Code, string Reason)? Refusal(Voucher voucher, int pool, long start, int hours) =>
            FundingRules.Refusal(ToTime(voucher.ExpiresHour), _notices, voucher.Forbidden, CreditCode(pool), ToTime(start), ToTime(start + hours));

        private void Fund(Rental rental, Voucher voucher)
        {
            var already = rental.Funding.Sum(f => f.Held);
            var share = Money.StackedShare(rental.Cost, already, voucher.Coverage, voucher.Available);
            if (share > 0)
            {
                voucher.Held += share;
                rental.Funding.Add((voucher, share));
            }
        }

        private string Stack()
        {
            var open = _rentals.Where(r => !r.Settled && r.Funding.Count > 0 && r.Funding.All(f => f.Voucher.Stackable)).ToList();
            if (open.Count == 0)
            {
                return "stack: nothing to stack on";
            }
            var rental = open[_random.Next(open.Count)];
            var voucher = _vouchers.Where(v => v.Stackable && rental.Funding.All(f => f.Voucher != v)).OrderBy(_ => _random.Next()).FirstOrDefault();
            if (voucher is null)
            {
                return "stack: no other stackable voucher";
            }
            Fund(rental, voucher);
            Count("stacked");
            return $"stack a voucher on a rental of pool {rental.Pool}";
        }

        private string Cancel()
        {
            var open = _rentals.Where(r => !r.Settled && !r.Interrupted && r.Start > _now).ToList(); // an interrupted rental is not cancelled
            if (open.Count == 0)
            {
                return "cancel: nothing to cancel";
            }
            var rental = open[_random.Next(open.Count)];
            Release(rental, rental.Start, rental.Start + rental.Hours);
            foreach (var (voucher, held) in rental.Funding)
            {
                voucher.Held -= held; // a voucher gets its whole hold back: public money never pays a charge
            }
            rental.Funding.Clear();
            var charge = Money.CancellationCharge(rental.Cost, ToTime(rental.Start), ToTime(_now), Terms.FreeCancellationHours,
                Terms.CancellationChargeBasisPoints);
            Check(charge <= rental.CashHold, "the cash hold covers any cancellation charge");
            CloseCash(rental, captured: charge, refund: 0);
            rental.Hours = 0;
            rental.Settled = true;
            Rebuild(rental.Pool);
            Count(charge > 0 ? "cancel charged" : "cancel free");
            return $"cancel a rental of pool {rental.Pool} ({charge} fen charged)";
        }

        /// <summary>Closes a rental's cash hold: <paramref name="captured"/> goes to the provider, the rest back, plus the provider's refund.</summary>
        private void CloseCash(Rental rental, long captured, long refund)
        {
            var company = rental.Company;
            company.Held -= rental.CashHold;
            company.Available += rental.CashHold - captured + refund;
            company.Unsettled -= rental.BookedCost;
            _providersCash += captured - refund;
        }

        private void Release(Rental rental, long from, long to)
        {
            for (var h = from; h < to; h++)
            {
                _used[rental.Pool][h] -= rental.Gpus;
            }
        }

        private string Outage()
        {
            // Half of the outages hit a pool that has rented hours, so that interrupted rentals are common among 24 pools.
            var p = _rentals.Count > 0 && _random.Next(2) == 0 ? _rentals[_random.Next(_rentals.Count)].Pool : _random.Next(PoolCount);
            var from = _now + _random.Next(0, 72);
            var to = from + _random.Next(1, 24);
            for (var h = from; h < to; h++)
            {
                _capacity[p][h] = 0;
            }
            foreach (var rental in _rentals.Where(r => r.Pool == p && !r.Settled && r.Start < to && r.Start + r.Hours > from).ToList())
            {
                // Interrupted: it keeps the hours before the outage; the voucher keeps holding only their share.
                var kept = (int)Math.Clamp(from - rental.Start, 0, rental.Hours);
                Release(rental, rental.Start + kept, rental.Start + rental.Hours);
                var before = rental.Hours;
                rental.Hours = kept;
                rental.Interrupted = true;
                for (var i = 0; i < rental.Funding.Count; i++)
                {
                    var (voucher, held) = rental.Funding[i];
                    var keep = Money.Prorate(held, kept, before);
                    voucher.Held -= held - keep;
                    rental.Funding[i] = (voucher, keep);
                }
                if (kept == 0)
                {
                    // Nothing delivered: the company gets its cash back at once, and the provider pays back its share.
                    foreach (var (voucher, held) in rental.Funding)
                    {
                        voucher.Held -= held;
                    }
                    rental.Funding.Clear();
                    CloseCash(rental, captured: 0, refund: Money.MostCancellationCharge(rental.BookedCost, Terms.CancellationChargeBasisPoints));
                    rental.Settled = true;
                    Count("interrupted before the start");
                }
                Count("interrupted");
            }
            Rebuild(p);
            Count("outage");
            return $"outage of pool {p} from {from} to {to}";
        }

        private string ChangePool()
        {
            var p = _random.Next(PoolCount);
            if (_random.Next(2) == 0)
            {
                _ask[p] = _random.Next(8, 21) * 100;
                Count("price change");
            }
            else
            {
                // Capacity may grow, or shrink down to what is already sold in each hour.
                _gpus[p] = _random.Next(1, 17);
                for (var h = _now + 1; h < Span; h++)
                {
                    _capacity[p][h] = _capacity[p][h] == 0 && h < _now + 100 ? 0 : Math.Max(_gpus[p], _used[p][h]);
                }
                Count("capacity change");
            }
            Rebuild(p);
            return $"change pool {p}";
        }

        private string Notice()
        {
            var effective = ToTime(_now + _random.Next(-24, 96));
            var notice = new ApprovalStep(CreditCode(_random.Next(PoolCount)), _random.Next(4) != 0, effective);
            // In the order they take effect, as the programme's store returns them (then in the order published).
            var at = _notices.FindLastIndex(n => n.EffectiveFrom <= effective) + 1;
            _notices.Insert(at, notice);
            Count(notice.Approved ? "approval" : "removal");
            return $"notice {notice}";
        }

        private string Route()
        {
            _routing = _random.Next(3) == 0
                ? RoutingPreference.None
                : new RoutingPreference(ProvinceNames.OrderBy(_ => _random.Next()).Take(2).ToHashSet(), _random.Next(0, 3_001));
            Count("routing");
            return $"routing {string.Join(",", _routing.Provinces)} within {_routing.WithinBasisPoints} bp";
        }

        private string Tick()
        {
            _now += _random.Next(1, 7);
            var payer = _companies[_random.Next(CompanyCount)];
            var paid = _random.Next(1, 60) * 1_000L;
            payer.Available += paid;
            _paidIn += paid;
            Count("top-up");
            if (_now + Horizon + 48 >= Span)
            {
                _now = Span - Horizon - 48; // the simulation's calendar ends here: later ticks only settle
            }
            foreach (var rental in _rentals.Where(r => !r.Settled && r.Start + r.Hours <= _now))
            {
                // Settled: each voucher pays its share of the hours used, never more than it holds; the company's cash hold
                // pays the rest, and for an outage the provider pays back its share of the hours it did not deliver.
                long vouchersPaid = 0;
                foreach (var (voucher, held) in rental.Funding)
                {
                    var captured = Money.Prorate(held, rental.Hours, rental.Hours);
                    Check(captured <= held, "a voucher captures at most what it holds");
                    voucher.Held -= held;
                    voucher.Captured += captured;
                    vouchersPaid += captured;
                }
                var cashShare = rental.Cost - vouchersPaid;
                Check(cashShare >= 0 && cashShare <= rental.CashHold, "the cash hold covers the cash share of the hours used");
                var refund = Money.MostCancellationCharge(rental.BookedCost - rental.Cost, Terms.CancellationChargeBasisPoints);
                CloseCash(rental, captured: cashShare, refund: refund);
                rental.Settled = true;
                Count(refund > 0 ? "settled after an outage" : "settled");
            }
            _rentals.RemoveAll(r => r.Settled);
            for (var v = 0; v < _vouchers.Count; v++)
            {
                if (_vouchers[v].ExpiresHour <= _now && _vouchers[v].Held == 0)
                {
                    _vouchers[v] = NewVoucher(); // expired and settled: the firm claims another
                    Count("voucher expired");
                }
            }
            for (var p = 0; p < PoolCount; p++)
            {
                Rebuild(p);
            }
            return $"clock to {_now}";
        }

        /// <summary>The first invariant that does not hold, or null.</summary>
        public string? Violation()
        {
            for (var p = 0; p < PoolCount; p++)
            {
                var book = _markets[ModelOf(p)].Find($"pool-{p}")!;
                for (var h = _now + 1; h < _now + 1 + Horizon; h++)
                {
                    if (_used[p][h] < 0 || _used[p][h] > Math.Max(_capacity[p][h], 0) && _capacity[p][h] > 0)
                    {
                        return $"pool {p} hour {h} sold {_used[p][h]} of {_capacity[p][h]}";
                    }
                    if (book.FreeAt(h) > _capacity[p][h] - _used[p][h])
                    {
                        return $"the view of pool {p} shows {book.FreeAt(h)} free at hour {h}, the pool {_capacity[p][h] - _used[p][h]}";
                    }
                }
            }
            foreach (var voucher in _vouchers)
            {
                if (voucher.Held < 0 || voucher.Captured < 0 || voucher.Held + voucher.Captured > voucher.Face)
                {
                    return $"a voucher of {voucher.Face} fen holds {voucher.Held} and spent {voucher.Captured}";
                }
            }
            foreach (var rental in _rentals)
            {
                var funded = rental.Funding.Sum(f => f.Held);
                if (funded > rental.Cost || rental.Funding.Any(f => f.Held < 0))
                {
                    return $"a rental costing {rental.Cost} fen is funded with {funded}";
                }
            }
            foreach (var company in _companies)
            {
                var open = _rentals.Where(r => !r.Settled && r.Company == company).ToList();
                if (company.Available < 0 || company.Held != open.Sum(r => r.CashHold) || company.Unsettled != open.Sum(r => r.BookedCost)
                    || company.Unsettled > Terms.MaxUnsettledFenPerTenant)
                {
                    return $"a company has {company.Available} available, {company.Held} held and {company.Unsettled} unsettled for {open.Count} rentals";
                }
            }
            foreach (var rental in _rentals.Where(r => !r.Settled))
            {
                if (rental.CashHold < Money.MostCancellationCharge(rental.BookedCost, Terms.CancellationChargeBasisPoints)
                    || rental.CashHold < rental.Cost - rental.Funding.Sum(f => f.Held))
                {
                    return $"a rental costing {rental.Cost} fen with {rental.Funding.Sum(f => f.Held)} from vouchers holds only {rental.CashHold} in cash";
                }
            }
            // No cash is made or lost: what was paid in is with the companies or has gone to the providers.
            var withCompanies = _companies.Sum(c => c.Available + c.Held);
            if (withCompanies + _providersCash != _paidIn)
            {
                return $"{_paidIn} fen paid in, {withCompanies} with the companies and {_providersCash} with the providers";
            }
            var accounted = Counts.GetValueOrDefault("cash fill") + Counts.GetValueOrDefault("voucher fill") + Counts.GetValueOrDefault("no match")
                + Counts.GetValueOrDefault("compute cash fill") + Counts.GetValueOrDefault("compute voucher fill")
                + Counts.GetValueOrDefault("compute: no match") + Counts.GetValueOrDefault("refused: cash") + Counts.GetValueOrDefault("refused: unsettled cap");
            return accounted == _bids ? null : $"{_bids} bids, {accounted} accounted for";
        }

        private static void Check(bool holds, string rule)
        {
            if (!holds)
            {
                throw new InvalidOperationException(rule);
            }
        }

        private static DateTimeOffset ToTime(long hour) => Hours.ToTime(hour);

        public string Summary() => string.Join(", ", Counts.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => $"{c.Key} {c.Value}"));
    }
}
