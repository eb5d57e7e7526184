namespace Marketplace.Domain;

/// <summary>
/// A voucher's money in fen (rules 1 and 7): its face value, what its holds keep for rentals, what settlements captured
/// and what went back to its programme. While the voucher is open, what a hold leaves unspent comes back to the voucher;
/// once it has lapsed or expired (<see cref="Ended"/>), it goes back to the programme. Arithmetic is <c>checked</c>.
/// </summary>
public readonly record struct VoucherBalance(long FaceValueFen, long HeldFen, long CapturedFen, long ReturnedFen, bool Ended)
{
    /// <summary>What the voucher can still hold for a rental.</summary>
    public long AvailableFen => FaceValueFen - HeldFen - CapturedFen - ReturnedFen;

    /// <summary>Captures reached the face value of a voucher still open: it is used up.</summary>
    public bool Exhausted => !Ended && CapturedFen == FaceValueFen;

    /// <summary>A hold of <paramref name="amountFen"/> taken for a rental.</summary>
    public VoucherBalance Hold(long amountFen) => this with { HeldFen = checked(HeldFen + amountFen) };

    /// <summary>A settlement captures <paramref name="capturedFen"/> of a hold of <paramref name="holdFen"/>; the rest of the hold is let go.</summary>
    public VoucherBalance Capture(long holdFen, long capturedFen)
    {
        if (capturedFen < 0 || capturedFen > holdFen)
        {
            throw new ArgumentOutOfRangeException(nameof(capturedFen), capturedFen, "a capture is between nothing and the whole hold");
        }
        return this with
        {
            HeldFen = HeldFen - holdFen,
            CapturedFen = checked(CapturedFen + capturedFen),
            ReturnedFen = Ended ? checked(ReturnedFen + holdFen - capturedFen) : ReturnedFen,
        };
    }

    /// <summary><paramref name="releasedFen"/> of a hold let go unspent (a cancellation, a failure, the hours an outage took).</summary>
    public VoucherBalance Release(long releasedFen) => this with
    {
        HeldFen = HeldFen - releasedFen,
        ReturnedFen = Ended ? checked(ReturnedFen + releasedFen) : ReturnedFen,
    };

    /// <summary>
    /// The voucher lapses or expires: only the value no hold keeps goes back now. A voucher funds only rentals that end by
    /// its expiry, so every open hold belongs to a rental it must still pay for when it settles; what settlement leaves
    /// goes back then.
    /// </summary>
    public VoucherBalance End() => this with { ReturnedFen = checked(ReturnedFen + AvailableFen), Ended = true };

    /// <summary>What trimming a hold of <paramref name="holdFen"/> down to <paramref name="keepFen"/> lets go (nothing when it keeps no more than that).</summary>
    public static long Trimmed(long holdFen, long keepFen) => Math.Max(0, holdFen - Math.Max(0, keepFen));
}
