namespace Marketplace.Domain.Rules;

/// <summary>Limits on what a company registers about itself.</summary>
public static class CompanyRules
{
    /// <summary>The most members a startup team names.</summary>
    public const int MaxMembers = 50;
}
