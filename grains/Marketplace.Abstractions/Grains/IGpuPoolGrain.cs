namespace Marketplace.Grains;

/// <summary>
/// A pool of identical GPUs at one site (key: pool id): the only authority on its hourly capacity.
/// Holds and confirmations are idempotent by reservation id; no hour is ever sold beyond its capacity.
/// </summary>
[Alias("gpu-pool")]
public interface IGpuPoolGrain : IGrainWithStringKey
{
    [Alias("init")] Task<PoolView> Initialize(PoolSpec spec);

    [Alias("get")] Task<PoolView?> Get();

    [Alias("hold")] Task<HoldOutcome> Hold(HoldRequest request);

    [Alias("confirm")] Task<HoldOutcome> Confirm(string reservationId);

    /// <summary>Returns the reservation's hours from <paramref name="fromHour"/> on (all of them when it is null).</summary>
    [Alias("release")] Task Release(string reservationId, long? fromHour);

    [Alias("change")] Task<PoolView> Change(PoolChange change);

    /// <summary>Takes capacity out for the outage and names the confirmed reservations it hits.</summary>
    [Alias("outage")] Task<OutageEffect> AddOutage(Outage outage);

    /// <summary>
    /// Ends the outage at <paramref name="at"/> (or cancels it, if it has not begun): the hours after are sellable again.
    /// Null when the pool has no such outage.
    /// </summary>
    [Alias("end-outage")] Task<Outage?> EndOutage(string outageId, DateTimeOffset at);

    /// <summary>
    /// Stops selling the pool to new bids (<paramref name="because"/>: why) or, with null, sells it again; the reservations
    /// it has are kept. False when it was so already.
    /// </summary>
    [Alias("suspend")] Task<bool> Suspend(string? because);

    /// <summary>Its provider's reliability score changed (null: the provider is new). False when it was so already.</summary>
    [Alias("set-reliability")] Task<bool> SetReliability(int? scoreBasisPoints);

    /// <summary>What the pool was last told by its provider (through its market): why it is suspended, and its provider's score.</summary>
    [Alias("standing")] Task<PoolStanding> Standing();

    /// <summary>Its market wrote fills on the pool: the pool reads its holds again before it next shows or reports them.</summary>
    [Alias("booked"), Orleans.Concurrency.OneWay] Task Booked();

    /// <summary>Records what a finished reservation earned the provider.</summary>
    [Alias("earn")] Task RecordEarnings(string reservationId, long amountFen);
}
