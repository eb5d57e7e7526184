namespace Marketplace;

[GenerateSerializer]
public enum TimeInForce
{
    /// <summary>Immediate or cancel: fill now or be rejected.</summary>
    Ioc,
    /// <summary>Good till time: rest in the book until filled, cancelled or <see cref="BidOrder.GoodUntil"/>.</summary>
    Gtc,
}

[GenerateSerializer]
public enum BidState
{
    /// <summary>Accepted and being matched.</summary>
    Pending,
    Resting,
    Filled,
    PartiallyFilled,
    Cancelled,
    Expired,
    Rejected,
}

/// <summary>
/// A bid for GPU time: <see cref="GpuCount"/> GPUs together in one pool (a gang) for <see cref="DurationHours"/>
/// consecutive hours, starting between <see cref="EarliestStart"/> and <see cref="LatestStart"/>, at no more than
/// <see cref="MaxFenPerGpuHour"/>, optionally only at providers whose reliability is at least
/// <see cref="MinReliabilityBasisPoints"/> (a new provider, with no score yet, does not meet a minimum above 0).
/// </summary>
[GenerateSerializer, Immutable, Alias("bid-order")]
public sealed record BidOrder(
    [Id(0)] string GpuModel,
    [Id(1)] int GpuCount,
    [Id(2)] int DurationHours,
    [Id(3)] DateTimeOffset EarliestStart,
    [Id(4)] DateTimeOffset LatestStart,
    [Id(5)] long MaxFenPerGpuHour,
    [Id(6)] IReadOnlyList<string>? AllowedProvinces,
    [Id(7)] string? VoucherId,
    [Id(8)] TimeInForce TimeInForce,
    [Id(9)] DateTimeOffset? GoodUntil,
    // Left out of the stored order (and so of its hash) when not set, so an order placed before it existed hashes the same.
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    [Id(10)] int? MinReliabilityBasisPoints = null);

/// <summary>An accepted bid: its id is derived from the tenant and its idempotency key, its hash from the order.</summary>
[GenerateSerializer, Immutable, Alias("bid-submission")]
public sealed record BidSubmission(
    [Id(0)] string BidId,
    [Id(1)] string TenantId,
    [Id(2)] BidOrder Order,
    [Id(3)] string OrderHash,
    [Id(4)] string? ComputeBidId = null);

[GenerateSerializer, Immutable, Alias("fill")]
public sealed record Fill(
    [Id(0)] string ReservationId,
    [Id(1)] string PoolId,
    [Id(2)] string ProviderId,
    [Id(3)] string Province,
    [Id(4)] string SiteId,
    [Id(5)] DateTimeOffset StartsAt,
    [Id(6)] DateTimeOffset EndsAt,
    [Id(7)] int Gpus,
    [Id(8)] long FenPerGpuHour,
    [Id(9)] long CostFen,
    [Id(10)] long VoucherFen,
    [Id(11)] long CashFen,
    [Id(12)] int? ProviderReliabilityBasisPoints = null);

[GenerateSerializer, Immutable, Alias("bid-view")]
public sealed record BidView(
    [Id(0)] string Id,
    [Id(1)] string TenantId,
    [Id(2)] BidOrder Order,
    [Id(3)] BidState State,
    [Id(4)] string? ReasonCode,
    [Id(5)] string? Reason,
    [Id(6)] IReadOnlyList<Fill> Fills,
    [Id(7)] DateTimeOffset CreatedAt,
    [Id(8)] DateTimeOffset UpdatedAt,
    [Id(9)] long Version)
{
    /// <summary>The price and filled compute in PFLOPS terms (left out for a model without a published TFLOPS figure).</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public BidCompute? Compute => BidCompute.Of(Order, Fills);

    /// <summary>
    /// For a good-till-cancelled compute bid: the compute asked for. <see cref="Order"/> is then the model bid it filled as,
    /// or, while it rests, what it would be in the first candidate model of the catalogue.
    /// </summary>
    [Id(10)]
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public ComputeOrder? ComputeOrder { get; init; }

    /// <summary>
    /// For one try of a good-till-cancelled compute bid: that bid's id. The owner sees the try through that bid (its list
    /// and pages show the compute bid, filled as this try), not as a bid of its own.
    /// </summary>
    [Id(11)]
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public string? ComputeBidId { get; init; }

    public bool IsFinal => State is BidState.Filled or BidState.PartiallyFilled or BidState.Cancelled or BidState.Expired or BidState.Rejected;
}

/// <summary>
/// What a bid would get now. <see cref="CashHoldFen"/> is the prepaid cash its fill would hold (the cash share, never less
/// than the most a cancellation can cost) and <see cref="CashAvailableFen"/> what the company has available (rule 8).
/// <see cref="ProviderReliabilityBasisPoints"/> is the offer's provider's reliability score (null: a new provider, or no offer).
/// </summary>
[GenerateSerializer, Immutable, Alias("quote")]
public sealed record Quote(
    [Id(0)] bool Available,
    [Id(1)] string? PoolId,
    [Id(2)] string? ProviderId,
    [Id(3)] string? Province,
    [Id(4)] DateTimeOffset? StartsAt,
    [Id(5)] DateTimeOffset? EndsAt,
    [Id(6)] long? FenPerGpuHour,
    [Id(7)] long CostFen,
    [Id(8)] long VoucherFen,
    [Id(9)] long CashFen,
    [Id(10)] string? ReasonCode,
    [Id(11)] string? Reason,
    [Id(12)] long CashHoldFen = 0,
    [Id(13)] long CashAvailableFen = 0,
    [Id(14)] IReadOnlyList<ComputeQuote>? Models = null,
    [Id(15)] int? ProviderReliabilityBasisPoints = null);

[GenerateSerializer, Immutable, Alias("bid-level")]
public sealed record BidLevel(
    [Id(0)] long FenPerGpuHour,
    [Id(1)] int Bids,
    [Id(2)] int Gpus);

[GenerateSerializer, Immutable, Alias("ask-level")]
public sealed record AskLevel(
    [Id(0)] string PoolId,
    [Id(1)] string Province,
    [Id(2)] long FenPerGpuHour,
    [Id(3)] int GpuCount,
    [Id(4)] long FreeGpuHours,
    [Id(5)] int UtilizationBasisPoints);

[GenerateSerializer, Immutable, Alias("order-book")]
public sealed record OrderBook(
    [Id(0)] string GpuModel,
    [Id(1)] IReadOnlyList<BidLevel> Bids,
    [Id(2)] IReadOnlyList<AskLevel> Asks,
    [Id(3)] DateTimeOffset At)
{
    /// <summary>The asks in compute terms (left out for a model without a published TFLOPS figure).</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public BookCompute? Compute => BookCompute.Of(GpuModel, Asks);
}
