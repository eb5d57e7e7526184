using Marketplace.Matching;

namespace Marketplace.Benchmarks;

/// <summary>
/// A busy market of one GPU model: hundreds of pools across the provinces with two-week (336-hour) calendars partly sold,
/// thousands of resting bids, and a stream of incoming bids like the load tool's (1-8 GPUs, 1-24 hours, a day or three of
/// start window, limits around the going price, some restricted to a few provinces). Seeded, so every run sees the same book.
/// </summary>
public sealed class RealisticBook
{
    public const int Hours = 336;

    private static readonly string[] Provinces =
    [
        "Beijing", "Shanghai", "Guangdong", "Sichuan", "Shandong", "Henan", "Zhejiang", "Inner Mongolia", "Guizhou", "Gansu", "Ningxia", "Chongqing",
    ];

    public RealisticBook(int pools, int restingBids, int incomingBids, int seed = 42)
    {
        var random = new Random(seed);
        BaseHour = 500_000;
        Ladder = new AskLadder();
        for (var p = 0; p < pools; p++)
        {
            var gpus = random.Next(4) switch { 0 => 64, 1 => 128, 2 => 256, _ => 512 };
            var capacity = new int[Hours];
            var free = new int[Hours];
            var sold = random.Next(55, 101); // percent of the pool already sold, varying hour by hour; many pools are full in places
            for (var h = 0; h < Hours; h++)
            {
                capacity[h] = gpus;
                free[h] = Math.Max(0, gpus - gpus * Math.Clamp(sold + random.Next(-25, 26), 0, 100) / 100);
            }
            Ladder.Put(new PoolBook($"pool-{p:D4}", Provinces[p % Provinces.Length], 800 + random.Next(0, 1_200), gpus, BaseHour, capacity, free));
        }
        Resting = new RestingBook();
        for (var b = 0; b < restingBids; b++)
        {
            Resting.Add(new RestingBid($"bid-{b:D6}", 600 + random.Next(0, 900), random.Next(1, 9), b, Provinces[random.Next(Provinces.Length)]));
        }
        var requests = new Dictionary<string, BidRequest>(StringComparer.Ordinal);
        foreach (var bid in Resting.InPriorityOrder())
        {
            requests[bid.BidId] = Request(random, bid.MaxFenPerGpuHour, bid.Gpus);
        }
        RestingRequests = requests;
        Incoming = new BidRequest[incomingBids];
        for (var i = 0; i < incomingBids; i++)
        {
            Incoming[i] = Request(random, 1_000 + random.Next(0, 1_200), random.Next(1, 9));
        }
    }

    public long BaseHour { get; }
    public long FirstBookableHour => BaseHour + 1;
    public long HorizonEndHour => BaseHour + Hours;
    public AskLadder Ladder { get; }
    public RestingBook Resting { get; }
    public IReadOnlyDictionary<string, BidRequest> RestingRequests { get; }
    public BidRequest[] Incoming { get; }

    private BidRequest Request(Random random, long limit, int gpus)
    {
        var earliest = BaseHour + 1 + random.Next(0, 260);
        var hours = random.Next(4) == 0 ? random.Next(8, 25) : random.Next(1, 5);
        IReadOnlySet<string>? provinces = random.Next(5) == 0
            ? new HashSet<string>(StringComparer.Ordinal) { Provinces[random.Next(Provinces.Length)], Provinces[random.Next(Provinces.Length)] }
            : null;
        return new BidRequest(gpus, hours, earliest, earliest + random.Next(24, 73), limit, provinces);
    }
}
