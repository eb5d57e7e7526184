namespace Marketplace.Domain.Rules;

/// <summary>
/// Names people read (tenants, providers, sites, programmes, activity titles). Beyond control characters, a name must
/// not carry characters that change how text around it is shown: bidirectional overrides and isolates can make a
/// name read differently from what it is ("Trojan Source"), and zero-width characters make two names that look the
/// same differ.
/// </summary>
public static class NameRules
{
    public const int MaxLength = 200;

    /// <summary>Why the name cannot be used, or null when it can. Length and blankness are the caller's to check.</summary>
    public static string? Problem(string name)
    {
        foreach (var c in name)
        {
            if (char.IsControl(c))
            {
                return "must not contain control characters";
            }
            if (c is >= '\u202A' and <= '\u202E' or >= '\u2066' and <= '\u2069')
            {
                return $"must not contain bidirectional override or isolate characters (U+{(int)c:X4})";
            }
            if (c is >= '\u200B' and <= '\u200D' or '\u2060' or '\uFEFF')
            {
                return $"must not contain zero-width characters (U+{(int)c:X4})";
            }
        }
        return null;
    }
}
