using System.Globalization;

namespace Marketplace.Grains;

/// <summary>
/// The verification of a company, for tenants and providers alike: registering makes it pending, a regulator verifies or
/// rejects it, and a change to what the rules rest on after verification makes it pending again with the changes listed.
/// </summary>
public static class CompanyReview
{
    /// <summary>A first registration, and one made before verification existed: pending, never reviewed.</summary>
    public static readonly CompanyStatus Unreviewed = new(CompanyState.Pending, 1, [], null, null, null);

    /// <summary>The status after a registration, given what changed since the registration last verified (none if never verified).</summary>
    public static CompanyStatus AfterRegistration(CompanyStatus? status, IReadOnlyList<CompanyChange> changesSinceVerified)
    {
        if (status is null)
        {
            return Unreviewed;
        }
        if (status.IsVerified && changesSinceVerified.Count == 0)
        {
            return status with { Revision = status.Revision + 1 }; // a new name or statement only: still the company verified
        }
        return status with { State = CompanyState.Pending, Revision = status.Revision + 1, Changes = changesSinceVerified, Reason = null };
    }

    /// <summary>What a tenant's or a provider's state holds for its review.</summary>
    public interface IReviewed<TRegistration> where TRegistration : class
    {
        TRegistration? Registration { get; }
        CompanyStatus? Status { get; set; }
        /// <summary>The registration as last verified: what a later change is compared with.</summary>
        TRegistration? Verified { get; set; }
    }

    /// <summary>Applies a regulator's decision: the new status, and, when verified, the registration it verified.</summary>
    public static void Apply<TRegistration>(IReviewed<TRegistration> state, CompanyDecision decision, DateTimeOffset now)
        where TRegistration : class
    {
        state.Status = Decide(state.Registration is null ? null : state.Status ?? Unreviewed, decision, now);
        if (state.Status.IsVerified)
        {
            state.Verified = state.Registration;
        }
    }

    public static CompanyStatus Decide(CompanyStatus? status, CompanyDecision decision, DateTimeOffset now)
    {
        if (status is null)
        {
            throw DomainException.Rule("company-not-registered", "there is no registration to review");
        }
        if (decision.Revision is { } revision && revision != status.Revision)
        {
            throw DomainException.Conflict("company-changed",
                $"the registration changed since revision {revision} (it is at revision {status.Revision}); review it again");
        }
        if (!decision.Verify && string.IsNullOrWhiteSpace(decision.Reason))
        {
            throw DomainException.Rule("reason-required", "a rejection says why", "reason");
        }
        return decision.Verify
            ? status with { State = CompanyState.Verified, Changes = [], Reason = null, ReviewedBy = decision.Reviewer, ReviewedAt = now }
            : status with { State = CompanyState.Rejected, Reason = decision.Reason, ReviewedBy = decision.Reviewer, ReviewedAt = now };
    }

    /// <summary>What the rules rest on for a tenant: kind, province, credit code, related parties.</summary>
    public static IReadOnlyList<CompanyChange> Changes(TenantRegistration? verified, TenantRegistration now)
    {
        if (verified is null)
        {
            return [];
        }
        var changes = new List<CompanyChange>();
        Compare(changes, "kind", verified.Kind.ToString(), now.Kind.ToString());
        Compare(changes, "province", verified.Province, now.Province);
        Compare(changes, "creditCode", verified.CreditCode, now.CreditCode);
        Compare(changes, "relatedPartyCreditCodes", List(verified.RelatedPartyCreditCodes), List(now.RelatedPartyCreditCodes));
        return changes;
    }

    /// <summary>What the rules rest on for a provider: credit code, sites, and the GPUs installed at each.</summary>
    public static IReadOnlyList<CompanyChange> Changes(ProviderRegistration? verified, ProviderRegistration now)
    {
        if (verified is null)
        {
            return [];
        }
        var changes = new List<CompanyChange>();
        Compare(changes, "creditCode", verified.CreditCode, now.CreditCode);
        var before = verified.Sites.ToDictionary(s => s.SiteId, Describe, StringComparer.Ordinal);
        var after = now.Sites.ToDictionary(s => s.SiteId, Describe, StringComparer.Ordinal);
        foreach (var siteId in before.Keys.Union(after.Keys).Order(StringComparer.Ordinal))
        {
            Compare(changes, $"sites[{siteId}]", before.GetValueOrDefault(siteId), after.GetValueOrDefault(siteId));
        }
        var installedBefore = (verified.Installed ?? []).ToDictionary(i => $"installedGpus[{i.SiteId}][{i.GpuModel}]", i => (string?)Count(i.Count));
        var installedAfter = (now.Installed ?? []).ToDictionary(i => $"installedGpus[{i.SiteId}][{i.GpuModel}]", i => (string?)Count(i.Count));
        foreach (var field in installedBefore.Keys.Union(installedAfter.Keys).Order(StringComparer.Ordinal))
        {
            Compare(changes, field, installedBefore.GetValueOrDefault(field) ?? "0", installedAfter.GetValueOrDefault(field) ?? "0");
        }
        return changes;
    }

    private static void Compare(List<CompanyChange> changes, string field, string? before, string? after)
    {
        if (!string.Equals(before, after, StringComparison.Ordinal))
        {
            changes.Add(new CompanyChange(field, before, after));
        }
    }

    private static string List(IEnumerable<string> codes) => string.Join(", ", codes.Distinct().Order(StringComparer.Ordinal));

    private static string Count(int count) => count.ToString(CultureInfo.InvariantCulture);

    private static string Describe(Site s) => string.Create(CultureInfo.InvariantCulture,
        $"{s.Name}, {s.City}, {s.Province} ({s.Latitude}, {s.Longitude}), {s.GreenPowerPercent}% green power");
}
