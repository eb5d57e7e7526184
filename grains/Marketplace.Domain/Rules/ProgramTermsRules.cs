namespace Marketplace.Domain.Rules;

/// <summary>The terms of a voucher programme as submitted; a value left out is null.</summary>
public sealed record ProgramTerms(
    string? Name,
    string? Issuer,
    string? Province,
    DateTimeOffset? ClaimOpensAt,
    DateTimeOffset? ClaimClosesAt,
    long? BudgetFen,
    long? VoucherCapFen,
    int? CoverageBasisPoints,
    int AllowedTenantKinds,
    int? RegistrationDeadlineDays,
    int? ValidityDays,
    int? ValidityMonths,
    string? Assumptions);

/// <summary>Rule 1's programme terms: the one definition of what a programme may say.</summary>
public static class ProgramTermsRules
{
    public const int MaxTenantKinds = 10;
    public const int MaxValidityMonths = 120;
    public const int MaxAssumptionsLength = 2000;

    /// <summary>The bounds of a programme's numeric terms, by JSON field name.</summary>
    public static IReadOnlyDictionary<string, Bounds> Ranges(MarketLimits limits) => new Dictionary<string, Bounds>
    {
        ["budgetFen"] = new(1, limits.MaxProgramFen),
        ["voucherCapFen"] = new(1, limits.MaxProgramFen),
        ["coverageBasisPoints"] = new(1, Money.WholeInBasisPoints),
        ["registrationDeadlineDays"] = new(1, limits.MaxRegistrationDeadlineDays),
        ["validityDays"] = new(1, limits.MaxValidityDays),
        ["validityMonths"] = new(1, MaxValidityMonths),
    };

    public static FieldErrors Validate(ProgramTerms t, MarketLimits limits, FieldErrors? errors = null)
    {
        errors ??= new FieldErrors();
        var ranges = Ranges(limits);
        Name(t.Name, "name", errors);
        Name(t.Issuer, "issuer", errors);
        if (string.IsNullOrEmpty(t.Province))
        {
            errors.Add("province", "is required");
        }
        else if (!Provinces.IsKnown(t.Province))
        {
            errors.Add("province", $"'{t.Province}' is not a province of China (use English names, e.g. 'Gansu')");
        }
        if (t.ClaimOpensAt is null)
        {
            errors.Add("claimOpensAt", "is required");
        }
        if (t.ClaimClosesAt is null)
        {
            errors.Add("claimClosesAt", "is required");
        }
        errors.Range(t.BudgetFen, ranges["budgetFen"], "budgetFen")
            .Range(t.VoucherCapFen, ranges["voucherCapFen"], "voucherCapFen")
            .Range(t.CoverageBasisPoints, ranges["coverageBasisPoints"], "coverageBasisPoints")
            .Range(t.RegistrationDeadlineDays, ranges["registrationDeadlineDays"], "registrationDeadlineDays")
            .Range(t.ValidityDays, ranges["validityDays"], "validityDays")
            .Range(t.ValidityMonths, ranges["validityMonths"], "validityMonths", required: false);
        if (t.AllowedTenantKinds == 0)
        {
            errors.Add("allowedTenantKinds", "is required");
        }
        else if (t.AllowedTenantKinds > MaxTenantKinds)
        {
            errors.Add("allowedTenantKinds", $"at most {MaxTenantKinds} entries");
        }
        if (t.ClaimOpensAt >= t.ClaimClosesAt)
        {
            errors.Add("claimClosesAt", "must be after claimOpensAt");
        }
        if (t.VoucherCapFen > t.BudgetFen)
        {
            errors.Add("voucherCapFen", "must not exceed the budget");
        }
        return errors;
    }

    /// <summary>The longest reason an office may give for raising a budget or closing a programme early.</summary>
    public const int MaxReasonLength = 500;

    /// <summary>A budget raise: a positive amount that keeps the budget within the limit, and the office's reason.</summary>
    public static FieldErrors ValidateRaise(long? amountFen, string? reason, long currentBudgetFen, MarketLimits limits, FieldErrors? errors = null)
    {
        errors ??= new FieldErrors();
        errors.Range(amountFen, 1, limits.MaxProgramFen - currentBudgetFen, "amountFen");
        return Reason(reason, errors);
    }

    /// <summary>An early close: the office's reason, shown to everyone who reads the programme.</summary>
    public static FieldErrors ValidateClose(string? reason, FieldErrors? errors = null) => Reason(reason, errors ?? new FieldErrors());

    private static FieldErrors Reason(string? reason, FieldErrors errors)
    {
        if (string.IsNullOrWhiteSpace(reason))
        {
            errors.Add("reason", "is required");
        }
        else if (reason.Length > MaxReasonLength)
        {
            errors.Add("reason", $"must be 1 to {MaxReasonLength} characters");
        }
        else if (NameRules.Problem(reason) is { } problem)
        {
            // Read by everyone who reads the programme, like a name.
            errors.Add("reason", problem);
        }
        return errors;
    }

    private static void Name(string? value, string field, FieldErrors errors)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            errors.Add(field, "is required");
        }
        else if (value.Length > NameRules.MaxLength)
        {
            errors.Add(field, $"must be 1 to {NameRules.MaxLength} characters");
        }
        else if (NameRules.Problem(value) is { } problem)
        {
            errors.Add(field, problem);
        }
    }
}
