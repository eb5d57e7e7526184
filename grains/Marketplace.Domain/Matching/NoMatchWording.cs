namespace Marketplace.Matching;

/// <summary>Why nothing matched a bid, as the stable code and the words a tenant reads (rules 4–6).</summary>
public static class NoMatchWording
{
    public static (string Code, string Reason) Of(NoMatchReason reason) => reason switch
    {
        NoMatchReason.NoPools => ("no-pools", "no pool of this GPU model is listed yet"),
        NoMatchReason.OutsideHorizon => ("outside-horizon", "no start in the requested window lies inside the booking horizon"),
        NoMatchReason.NoPoolInProvinces => ("no-pool-in-provinces", "no pool of this GPU model is listed in the allowed provinces"),
        NoMatchReason.GangTooLarge => ("gang-too-large", "no single pool has that many GPUs of this model"),
        NoMatchReason.PriceAboveLimit => ("price-above-limit", "capacity is free only at asks above the bid's limit"),
        NoMatchReason.NotFundable => ("voucher-cannot-pay", "no pool with room can be paid by the voucher"),
        NoMatchReason.BelowReliability => ("below-reliability",
            "pools with room at the bid's price belong to providers below its minimum reliability, or too new to have a score"),
        _ => ("no-capacity", "no pool has the GPUs free for the whole duration in the start window"),
    };

    /// <summary>A voucher bid refused by the voucher for a pool that had room: the voucher's own reason, said as such.</summary>
    public static string VoucherRefused(string reason) => $"no pool with room can be paid by the voucher: {reason}";
}
