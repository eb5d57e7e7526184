using System.ComponentModel.DataAnnotations;
using Marketplace.Data;

namespace Marketplace.Silo;

/// <summary>The application's own database role, made by <c>Marketplace.Silo migrate</c> ("Database" section).</summary>
public sealed class AppRoleSettings : IValidatableObject
{
    public const string Section = "Database";

    /// <summary>The role silos and the web tier connect as; none by default (they then use the connection's own user).</summary>
    public string? AppRole { get; set; }

    public string? AppRolePassword { get; set; }

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (string.IsNullOrEmpty(AppRole))
        {
            yield break;
        }
        if (!ApplicationRole.ValidName().IsMatch(AppRole))
        {
            yield return new ValidationResult("Database:AppRole must be lower-case letters, digits and '_' (at most 63, not starting with a digit)");
        }
        if (string.IsNullOrEmpty(AppRolePassword))
        {
            yield return new ValidationResult("Database:AppRolePassword must be set when Database:AppRole is (the role logs in with it)");
        }
    }
}
