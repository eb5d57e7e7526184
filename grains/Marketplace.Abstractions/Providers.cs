namespace Marketplace;

/// <summary>A data-center site. Green power is the share of the site's electricity from clean sources, in percent.</summary>
[GenerateSerializer, Immutable, Alias("site")]
public sealed record Site(
    [Id(0)] string SiteId,
    [Id(1)] string Name,
    [Id(2)] string Province,
    [Id(3)] string City,
    [Id(4)] double Latitude,
    [Id(5)] double Longitude,
    [Id(6)] int GreenPowerPercent);

/// <summary>How many GPUs of a model are installed at a site: the pools listed there never add up to more.</summary>
[GenerateSerializer, Immutable, Alias("installed-gpus")]
public sealed record InstalledGpus(
    [Id(0)] string SiteId,
    [Id(1)] string GpuModel,
    [Id(2)] int Count);

[GenerateSerializer, Immutable, Alias("provider-registration")]
public sealed record ProviderRegistration(
    [Id(0)] string Name,
    [Id(1)] string CreditCode,
    [Id(2)] IReadOnlyList<Site> Sites,
    [Id(3)] IReadOnlyList<InstalledGpus>? Installed = null)
{
    /// <summary>The GPUs of the model installed at the site (none unless declared).</summary>
    public int InstalledAt(string siteId, string gpuModel) =>
        Installed?.Where(i => i.SiteId == siteId && i.GpuModel == gpuModel).Sum(i => i.Count) ?? 0;
}

[GenerateSerializer, Immutable, Alias("provider-view")]
public sealed record ProviderView(
    [Id(0)] string Id,
    [Id(1)] ProviderRegistration Registration,
    [Id(2)] IReadOnlyList<string> PoolIds,
    [Id(3)] DateTimeOffset RegisteredAt,
    [Id(4)] CompanyStatus? Status = null);

/// <summary>A provider lists a pool on one of its sites. Price is fen per GPU-hour.</summary>
[GenerateSerializer, Immutable, Alias("pool-listing")]
public sealed record PoolListing(
    [Id(0)] string PoolId,
    [Id(1)] string SiteId,
    [Id(2)] string GpuModel,
    [Id(3)] int GpuCount,
    [Id(4)] long AskFenPerGpuHour);

/// <summary>Everything a pool needs to know about itself and its owner when it is created.</summary>
[GenerateSerializer, Immutable, Alias("pool-spec")]
public sealed record PoolSpec(
    [Id(0)] string PoolId,
    [Id(1)] string ProviderId,
    [Id(2)] string ProviderCreditCode,
    [Id(3)] Site Site,
    [Id(4)] string GpuModel,
    [Id(5)] int GpuCount,
    [Id(6)] long AskFenPerGpuHour,
    [Id(7)] string? ProviderName = null);

/// <summary>
/// A change of ask or GPU count. <see cref="ExpectedVersion"/>: the pool version the change was made from (the request's
/// If-Match); when the pool has moved on since, the change is refused rather than written over what the editor never saw.
/// </summary>
[GenerateSerializer, Immutable, Alias("pool-change")]
public sealed record PoolChange(
    [Id(0)] long? AskFenPerGpuHour,
    [Id(1)] int? GpuCount,
    [Id(2)] long? ExpectedVersion = null);

/// <summary>An outage ended before its declared end: the pools it covered and when it now ends.</summary>
[GenerateSerializer, Immutable, Alias("outage-ended")]
public sealed record OutageEnded(
    [Id(0)] string OutageId,
    [Id(1)] IReadOnlyList<string> PoolIds,
    [Id(2)] DateTimeOffset EndsAt);

[GenerateSerializer, Immutable, Alias("outage")]
public sealed record Outage(
    [Id(0)] string OutageId,
    [Id(1)] DateTimeOffset From,
    [Id(2)] DateTimeOffset To,
    [Id(3)] string Reason);

/// <summary>A provider declares an outage of one pool, or of every pool on a site.</summary>
[GenerateSerializer, Immutable, Alias("outage-request")]
public sealed record OutageRequest(
    [Id(0)] string? PoolId,
    [Id(1)] string? SiteId,
    [Id(2)] Outage Outage);

[GenerateSerializer, Immutable, Alias("outage-report")]
public sealed record OutageReport(
    [Id(0)] string OutageId,
    [Id(1)] IReadOnlyList<string> PoolIds,
    [Id(2)] IReadOnlyList<string> InterruptedReservationIds,
    [Id(3)] IReadOnlyList<string> RematchedReservationIds);

/// <summary>
/// Hourly capacity and use of a pool from <see cref="StartHour"/> on, one entry per hour.
/// Capacity is the GPU count less any outage; Used is what holds and confirmed reservations take.
/// </summary>
[GenerateSerializer, Immutable, Alias("pool-calendar")]
public sealed record PoolCalendar(
    [Id(0)] long StartHour,
    [Id(1)] int[] Capacity,
    [Id(2)] int[] Used);

[GenerateSerializer, Immutable, Alias("pool-view")]
public sealed record PoolView(
    [Id(0)] string Id,
    [Id(1)] string ProviderId,
    [Id(2)] Site Site,
    [Id(3)] string GpuModel,
    [Id(4)] int GpuCount,
    [Id(5)] long AskFenPerGpuHour,
    [Id(6)] IReadOnlyList<Outage> Outages,
    [Id(7)] PoolCalendar Calendar,
    [Id(8)] int UtilizationBasisPoints,
    [Id(9)] long EarningsFen,
    [Id(10)] int ActiveReservations,
    [Id(11)] long Version,
    [Id(12)] string? SuspendedBecause = null)
{
    /// <summary>Capacity in TFLOPS and the ask per PFLOPS-hour (left out for a model without a published TFLOPS figure).</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public PoolCompute? Compute => PoolCompute.Of(GpuModel, GpuCount, AskFenPerGpuHour);
}

/// <summary>
/// What a pool stands on, as its provider told it: why it sells nothing new (null: it sells) and its provider's reliability
/// score in basis points (null: a new provider).
/// </summary>
[GenerateSerializer, Immutable, Alias("pool-standing")]
public sealed record PoolStanding(
    [Id(0)] string? SuspendedBecause,
    [Id(1)] int? ReliabilityBasisPoints);

/// <summary>
/// A hold on a pool's hours. <see cref="ConfirmAtOnce"/>: the saga has no step between holding and confirming (no voucher
/// pays), so the hold is confirmed in the same write.
/// </summary>
[GenerateSerializer, Immutable, Alias("hold-request")]
public sealed record HoldRequest(
    [Id(0)] string ReservationId,
    [Id(1)] long StartHour,
    [Id(2)] int Hours,
    [Id(3)] int Gpus,
    [Id(4)] long AskFenPerGpuHour,
    [Id(5)] TimeSpan Ttl,
    [Id(6)] bool ConfirmAtOnce = false);

[GenerateSerializer, Immutable, Alias("hold-outcome")]
public sealed record HoldOutcome(
    [Id(0)] bool Accepted,
    [Id(1)] string? RefusalCode,
    [Id(2)] string? Reason)
{
    public static readonly HoldOutcome Ok = new(true, null, null);
    public static HoldOutcome Refused(string code, string reason) => new(false, code, reason);
}

[GenerateSerializer, Immutable, Alias("outage-effect")]
public sealed record OutageEffect(
    [Id(0)] IReadOnlyList<string> AffectedReservationIds);
