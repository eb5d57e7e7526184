namespace Marketplace;

/// <summary>Where a registration stands with the programme office.</summary>
public enum CompanyState
{
    Pending,
    Verified,
    Rejected,
}

/// <summary>One field a registration changed since it was last verified, as the regulator sees it.</summary>
[GenerateSerializer, Immutable, Alias("company-change")]
public sealed record CompanyChange(
    [Id(0)] string Field,
    [Id(1)] string? Before,
    [Id(2)] string? After);

/// <summary>
/// A tenant's or provider's verification: a registration is pending until a regulator or admin verifies or rejects it,
/// and a change to what the rules rest on after verification makes it pending again with the changes to review.
/// <see cref="Revision"/> counts registrations, so a reviewer decides on the one they saw.
/// </summary>
[GenerateSerializer, Immutable, Alias("company-status")]
public sealed record CompanyStatus(
    [Id(0)] CompanyState State,
    [Id(1)] int Revision,
    [Id(2)] IReadOnlyList<CompanyChange> Changes,
    [Id(3)] string? Reason,
    [Id(4)] string? ReviewedBy,
    [Id(5)] DateTimeOffset? ReviewedAt)
{
    public bool IsVerified => State == CompanyState.Verified;
}

public static class CompanyVerification
{
    public const string NotVerified = "company-not-verified";

    /// <summary>An unverified company can read but not claim, bid or list.</summary>
    public static void Require(CompanyStatus? status, string who, string action)
    {
        if (status?.IsVerified != true)
        {
            throw new DomainException(ErrorKind.Forbidden, NotVerified,
                $"{who} is {(status?.State ?? CompanyState.Pending).ToString().ToLowerInvariant()}, not verified by the programme office: it cannot {action} until it is");
        }
    }
}

/// <summary>A regulator's decision: verify, or reject with a reason; optionally only if the registration is still at <see cref="Revision"/>.</summary>
[GenerateSerializer, Immutable, Alias("company-decision")]
public sealed record CompanyDecision(
    [Id(0)] bool Verify,
    [Id(1)] string Reviewer,
    [Id(2)] string? Reason,
    [Id(3)] int? Revision);
