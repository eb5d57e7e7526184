using Marketplace.Storage;

namespace Marketplace.Grains;

/// <summary>
/// What one voucher can pay (rules 1–3): reads its programme's approval notices, its tenant's credit code and related
/// parties, and the other vouchers funding a rental, and asks <see cref="FundingRules"/>. The voucher grain decides when
/// to ask and holds what this answers.
/// </summary>
internal sealed class VoucherFunding(IGrainFactory grains, VoucherStore store)
{
    /// <summary>Rules 1–3 that do not depend on the amount: whether the voucher can pay at all, and for which rentals.</summary>
    public async Task<FundingTerms> TermsAsync(VoucherRow row)
    {
        if (FundingTerms.StateRefusal(row.State) is var (code, reason))
        {
            return FundingTerms.Refused(row.Id, code, reason);
        }
        var notices = await grains.GetGrain<IVoucherProgramGrain>(row.ProgramId).Notices();
        // Rule 2: today's credit codes of the tenant and its related parties, as well as those frozen at the claim.
        var tenant = (await grains.GetGrain<ITenantGrain>(row.TenantId).Get())?.Registration;
        var forbidden = FundingRules.ForbiddenCreditCodes(row.TenantCreditCode, row.FrozenRelatedParties, tenant?.CreditCode, tenant?.RelatedPartyCreditCodes);
        return new FundingTerms(row.Id, row.ProgramId, null, null, row.ExpiresAt, notices, forbidden);
    }

    /// <summary>Rules 1 and 3 for one rental, in the order a tenant would want to hear them.</summary>
    public async Task<FundingResult> EvaluateAsync(VoucherRow row, FundingRequest request)
    {
        var terms = await TermsAsync(row);
        if (terms.RefusalFor(request.ProviderCreditCode, request.RentalStart, request.RentalEnd) is { } refusal)
        {
            return FundingResult.Refused(refusal.Code, refusal.Reason);
        }
        var others = await store.OtherFundersAsync(request.ReservationId, row.Id);
        var (amount, code, reason) = FundingRules.Share(request.RentalCostFen, others.Sum(o => o.FundedFen),
            FundingRules.StackingAllowed(row.Stackable, others.Select(o => o.Stackable).ToList()), row.CoverageBasisPoints, row.AvailableFen);
        return code is null ? FundingResult.Held(amount, row.ProgramId) : FundingResult.Refused(code, reason!);
    }
}

/// <summary>A voucher's row read and written as its <see cref="VoucherBalance"/>.</summary>
internal static class VoucherRowBalance
{
    /// <summary>The row's money; lapsed or expired, what a hold leaves unspent goes back to the programme.</summary>
    public static VoucherBalance Balance(this VoucherRow row) =>
        new(row.FaceValueFen, row.HeldFen, row.CapturedFen, row.ReturnedFen, row.State is VoucherState.Expired or VoucherState.Lapsed);

    public static VoucherRow With(this VoucherRow row, VoucherBalance balance) =>
        row with { HeldFen = balance.HeldFen, CapturedFen = balance.CapturedFen, ReturnedFen = balance.ReturnedFen };
}
