namespace Marketplace.Grains;

/// <summary>One voucher (key: voucher id). Every change is one PostgreSQL transaction with its ledger entries.</summary>
[Alias("voucher")]
public interface IVoucherGrain : IGrainWithStringKey
{
    [Alias("get")] Task<VoucherView?> Get();

    [Alias("register")] Task<VoucherView> RegisterActivity(string tenantId, RdActivity activity);

    /// <summary>What the voucher can pay for right now, for the market to decide on a pool it will accept.</summary>
    [Alias("terms")] Task<FundingTerms> FundingTerms(string tenantId);

    /// <summary>What <see cref="HoldFunds"/> would hold right now, without holding it.</summary>
    [Alias("preview")] Task<FundingResult> PreviewFunding(FundingRequest request);

    /// <summary>Holds the voucher's share of a rental. Idempotent by reservation id; another cost for the same id is a conflict.</summary>
    [Alias("hold")] Task<FundingResult> HoldFunds(FundingRequest request);

    /// <summary>Spends <paramref name="amountFen"/> of the reservation's hold and releases the rest. Idempotent by reservation id.</summary>
    [Alias("capture")] Task<long> Capture(string reservationId, long amountFen);

    /// <summary>
    /// Keeps only <paramref name="keepFen"/> of the reservation's hold and releases the rest (an outage took hours away
    /// from a rental before they were used). Idempotent: a hold already at or below the amount is left as it is.
    /// </summary>
    [Alias("trim")] Task Trim(string reservationId, long keepFen);

    /// <summary>Releases the reservation's hold, if any. Idempotent.</summary>
    [Alias("release")] Task Release(string reservationId);

    /// <summary>Applies the lapse and expiry rules as of now (the sweeper and every read call this).</summary>
    [Alias("due")] Task<VoucherView?> ApplyDueTransitions();
}
