using Marketplace.Matching;
using Marketplace.Storage;

namespace Marketplace.Grains;

/// <summary>
/// A bid the market is matching: new, resting in the book, or the remainder of a reservation an outage interrupted.
/// It carries what the market learned while matching it: its voucher's terms and the pools not to try again.
/// </summary>
public sealed class OpenOrder(string bidId, string tenantId, BidOrder order, int nextReservation)
{
    public string BidId { get; } = bidId;
    public string TenantId { get; } = tenantId;
    public BidOrder Order { get; } = order;
    /// <summary>Its place in time among resting bids at the same price.</summary>
    public long Sequence { get; set; }
    public int NextReservation { get; set; } = nextReservation;
    /// <summary>What the bid's voucher can pay for, as last read; null until read, or after it may have changed.</summary>
    public FundingTerms? Terms { get; set; }
    /// <summary>The market's terms epoch when <see cref="Terms"/> were read: older terms are read again before use.</summary>
    public long TermsEpoch { get; set; }
    /// <summary>
    /// The bid as stored, or for a new bid as it is first written, at <see cref="BidVersion"/> (0: not written yet). Null for
    /// the rest of a rental an outage interrupted: that bid is written apart, after the re-match.
    /// </summary>
    public BidRecord? Record { get; set; }
    public long BidVersion { get; set; }
    /// <summary>Pools not to try again for this bid (the one whose outage caused a re-match, or one its voucher refused).</summary>
    public HashSet<string> Excluded { get; } = new(StringComparer.Ordinal);

    public BidRequest Request => new(Order.GpuCount, Order.DurationHours, Hours.Ceiling(Order.EarliestStart), Hours.Floor(Order.LatestStart),
        Order.MaxFenPerGpuHour, Order.AllowedProvinces is { Count: > 0 } p ? p.ToHashSet(StringComparer.Ordinal) : null,
        Order.MinReliabilityBasisPoints);

    /// <summary>
    /// The start hours at which the voucher can pay the pool (rules 1–3), for the matcher to decide only on those; null for
    /// a cash bid.
    /// </summary>
    public Func<PoolBook, IReadOnlyList<(long Earliest, long Latest)>>? FundableStarts(MarketView view)
    {
        if (Order.VoucherId is null || Terms is not { Usable: true } terms)
        {
            return null;
        }
        var notices = ProviderNotice.Steps(terms.Notices);
        var duration = TimeSpan.FromHours(Order.DurationHours);
        return pool =>
        {
            var spec = view.Spec(pool.PoolId);
            return FundingRules.StartWindows(terms.ExpiresAt, notices, terms.ForbiddenCreditCodes, spec.ProviderCreditCode, duration)
                .Select(w => (Hours.Ceiling(w.Earliest), w.Latest == DateTimeOffset.MaxValue ? long.MaxValue : Hours.Floor(w.Latest)))
                .ToList();
        };
    }
}

/// <summary>How matching a bid ended, for its caller to record.</summary>
public abstract record MatchEnd
{
    /// <summary>A reservation was confirmed; <see cref="Bid"/> is the bid as the same commit wrote it (null if it is written apart).</summary>
    public sealed record Filled(ReservationView Reservation, BidView? Bid) : MatchEnd;

    /// <summary>The bid's voucher cannot pay at all: the bid ends with the voucher's reason.</summary>
    public sealed record Refused(string Code, string Reason) : MatchEnd;

    /// <summary>Nothing can fill the bid now; <see cref="Funding"/> when pools had room but the voucher could pay none of them.</summary>
    public sealed record Unmatched(string Code, string Reason, bool Funding) : MatchEnd;
}

/// <summary>A new bid's first write found it written already: a repeat of a request whose answer was lost.</summary>
public sealed class BidAlreadyWrittenException(string bidId) : Exception($"bid {bidId} was written before");

/// <summary>How one attempt to write a fill ended.</summary>
public sealed record FillAttempt(AttemptOutcome Kind, ReservationView? Reservation, BidView? Bid, string? Code, string? Reason)
{
    public static FillAttempt Refused(AttemptOutcome kind, string code, string reason) => new(kind, null, null, code, reason);
}
