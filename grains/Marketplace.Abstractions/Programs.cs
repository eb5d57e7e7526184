using System.Text.Json.Serialization;

namespace Marketplace;

[GenerateSerializer]
public enum TenantKind
{
    Sme,
    StartupTeam,
}

/// <summary>
/// The terms of a voucher program as its notice publishes them. Money is in fen (1 CNY = 100 fen). A voucher is valid for
/// <see cref="ValidityMonths"/> calendar months in Beijing time when the program gives months, else for
/// <see cref="ValidityDays"/> days.
/// </summary>
[GenerateSerializer, Immutable, Alias("program-definition")]
public sealed record ProgramDefinition(
    [Id(0)] string Name,
    [Id(1)] string Issuer,
    [Id(2)] string Province,
    [Id(3)] DateTimeOffset ClaimOpensAt,
    [Id(4)] DateTimeOffset ClaimClosesAt,
    [Id(5)] long BudgetFen,
    [Id(6)] long VoucherCapFen,
    [Id(7)] int CoverageBasisPoints,
    [Id(8)] IReadOnlyList<TenantKind> AllowedTenantKinds,
    [Id(9)] int RegistrationDeadlineDays,
    [Id(10)] int ValidityDays,
    [Id(11)] bool Stackable,
    [Id(12)] bool AllowMultipleOpenVouchers,
    [Id(13)] string? Assumptions,
    // Left out of the stored JSON when absent: a program's definition hash is taken over that JSON, and terms stored
    // before the field existed must still match the same terms posted again.
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] [Id(14)] int? ValidityMonths = null);

/// <summary>
/// A published notice that adds or removes an approved company (by its unified social credit code) from a given date;
/// the approval applies to every site the company lists. <see cref="ProviderId"/> is the provider the office named the
/// company by, when it did.
/// </summary>
[GenerateSerializer, Immutable, Alias("provider-notice")]
public sealed record ProviderNotice(
    [Id(0)] string BatchId,
    [Id(1)] string CreditCode,
    [Id(2)] bool Approved,
    [Id(3)] DateTimeOffset EffectiveFrom,
    [Id(4)] string? ProviderId = null)
{
    /// <summary>The notices as rule 3 reads them, in the order they take effect.</summary>
    public static IReadOnlyList<Domain.ApprovalStep> Steps(IEnumerable<ProviderNotice> notices) =>
        notices.Select(n => new Domain.ApprovalStep(n.CreditCode, n.Approved, n.EffectiveFrom)).ToList();

    /// <summary>
    /// Whether the notice says the same as another for its batch and company (who it was named by aside). Dates compare to
    /// the microsecond, the precision a stored notice keeps.
    /// </summary>
    public bool SameTermsAs(ProviderNotice other) =>
        CreditCode == other.CreditCode && Approved == other.Approved && Microseconds(EffectiveFrom) == Microseconds(other.EffectiveFrom);

    private static long Microseconds(DateTimeOffset at) => at.UtcTicks / TimeSpan.TicksPerMicrosecond;
}

[GenerateSerializer, Immutable, Alias("program-totals")]
public sealed record ProgramTotals(
    [Id(0)] long IssuedFen,
    [Id(1)] long ReturnedFen,
    [Id(2)] long HeldFen,
    [Id(3)] long SpentFen)
{
    public long RemainingBudget(long budgetFen) => budgetFen - IssuedFen + ReturnedFen;
}

[GenerateSerializer, Immutable, Alias("program-view")]
public sealed record ProgramView(
    [Id(0)] string Id,
    [Id(1)] ProgramDefinition Definition,
    [Id(2)] ProgramTotals Totals,
    [Id(3)] IReadOnlyList<ProviderNotice> ProviderNotices,
    [Id(4)] DateTimeOffset CreatedAt,
    // The budget now: the definition's budget plus every raise.
    [Id(5)] long BudgetFen = 0,
    // When the office closed claims early, and why; vouchers already issued keep their terms.
    [Id(6)] DateTimeOffset? ClosedAt = null,
    [Id(7)] string? CloseReason = null);

/// <summary>A tenant asks for a voucher. <see cref="AmountFen"/> is optional: the default is the cap or what is left.</summary>
[GenerateSerializer, Immutable, Alias("claim-request")]
public sealed record ClaimRequest(
    [Id(0)] string TenantId,
    [Id(1)] string ClaimKey,
    [Id(2)] long? AmountFen);
