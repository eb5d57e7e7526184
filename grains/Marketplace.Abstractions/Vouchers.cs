namespace Marketplace;

[GenerateSerializer]
public enum VoucherState
{
    Claimed,
    Active,
    Exhausted,
    Expired,
    Lapsed,
}

[GenerateSerializer, Immutable, Alias("rd-activity")]
public sealed record RdActivity(
    [Id(0)] string Title,
    [Id(1)] string Description,
    [Id(2)] int PlannedGpuHours);

/// <summary>A voucher as its tenant sees it. Amounts in fen; Available = Face - Held - Captured - Returned.</summary>
[GenerateSerializer, Immutable, Alias("voucher-view")]
public sealed record VoucherView(
    [Id(0)] string Id,
    [Id(1)] string ProgramId,
    [Id(2)] string TenantId,
    [Id(3)] VoucherState State,
    [Id(4)] long FaceValueFen,
    [Id(5)] long HeldFen,
    [Id(6)] long CapturedFen,
    [Id(7)] long ReturnedFen,
    [Id(8)] int CoverageBasisPoints,
    [Id(9)] DateTimeOffset ClaimedAt,
    [Id(10)] DateTimeOffset RegistrationDeadline,
    [Id(11)] DateTimeOffset? RegisteredAt,
    [Id(12)] DateTimeOffset? ExpiresAt,
    [Id(13)] RdActivity? Activity,
    [Id(14)] long Version)
{
    public long AvailableFen => FaceValueFen - HeldFen - CapturedFen - ReturnedFen;
}

/// <summary>A reservation asks a voucher to pay its share of a rental.</summary>
[GenerateSerializer, Immutable, Alias("funding-request")]
public sealed record FundingRequest(
    [Id(0)] string ReservationId,
    [Id(1)] string TenantId,
    [Id(2)] string ProviderId,
    [Id(3)] string? ProviderCreditCode,
    [Id(4)] DateTimeOffset RentalStart,
    [Id(5)] DateTimeOffset RentalEnd,
    [Id(6)] long RentalCostFen);

/// <summary>The voucher's answer: the amount it holds for the reservation, or why it refuses.</summary>
[GenerateSerializer, Immutable, Alias("funding-result")]
public sealed record FundingResult(
    [Id(0)] bool Accepted,
    [Id(1)] long AmountFen,
    [Id(2)] string? ProgramId,
    [Id(3)] string? RefusalCode,
    [Id(4)] string? RefusalReason)
{
    public static FundingResult Held(long amount, string programId) => new(true, amount, programId, null, null);
    public static FundingResult Refused(string code, string reason) => new(false, 0, null, code, reason);
}

/// <summary>
/// What a voucher can pay for, so the market can decide on a pool the voucher will accept (rules 1–3): either why the
/// voucher cannot pay at all right now, or its expiry, its programme's approval notices and the credit codes it never
/// pays. <see cref="Domain.FundingRules"/> reads them; the voucher applies the same rules when it holds funds.
/// </summary>
[GenerateSerializer, Immutable, Alias("funding-terms")]
public sealed record FundingTerms(
    [Id(0)] string VoucherId,
    [Id(1)] string? ProgramId,
    [Id(2)] string? RefusalCode,
    [Id(3)] string? RefusalReason,
    [Id(4)] DateTimeOffset? ExpiresAt,
    [Id(5)] IReadOnlyList<ProviderNotice> Notices,
    [Id(6)] IReadOnlyList<string> ForbiddenCreditCodes)
{
    public bool Usable => RefusalCode is null;

    public static FundingTerms Refused(string voucherId, string code, string reason) => new(voucherId, null, code, reason, null, [], []);

    /// <summary>Why a voucher in this state can pay nothing, or null when it is active.</summary>
    public static (string Code, string Reason)? StateRefusal(VoucherState state) => state switch
    {
        VoucherState.Active => null,
        VoucherState.Claimed => ("voucher-not-registered", "register the voucher's R&D activity before using it"),
        _ => ($"voucher-{state.ToString().ToLowerInvariant()}", $"the voucher is {state}"),
    };

    /// <summary>Why the voucher cannot pay this provider's rental over [start, end), or null when it can.</summary>
    public (string Code, string Reason)? RefusalFor(string? providerCreditCode, DateTimeOffset start, DateTimeOffset end) =>
        RefusalCode is { } code
            ? (code, RefusalReason!)
            : Domain.FundingRules.Refusal(ExpiresAt, ProviderNotice.Steps(Notices), ForbiddenCreditCodes, providerCreditCode, start, end);
}
