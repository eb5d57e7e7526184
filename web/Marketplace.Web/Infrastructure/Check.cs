using System.Text.RegularExpressions;

namespace Marketplace.Web.Infrastructure;

/// <summary>Collects field errors of one request so the caller hears about all of them at once.</summary>
internal sealed partial class Check
{
    private readonly Dictionary<string, List<string>> _errors = new(StringComparer.Ordinal);

    public bool Ok => _errors.Count == 0;

    public IResult Problem() => Problems.Validation(_errors.ToDictionary(e => e.Key, e => e.Value.ToArray()));

    public Check Add(string field, string message)
    {
        if (!_errors.TryGetValue(field, out var list))
        {
            _errors[field] = list = [];
        }
        list.Add(message);
        return this;
    }

    public Check Required<T>(T? value, string field) where T : class
    {
        if (value is null || value is string s && string.IsNullOrWhiteSpace(s))
        {
            Add(field, "is required");
        }
        return this;
    }

    public Check Required<T>(T? value, string field) where T : struct
    {
        if (value is null)
        {
            Add(field, "is required");
        }
        return this;
    }

    public Check Range(long? value, long min, long max, string field, bool required = true)
    {
        if (value is null)
        {
            return required ? Add(field, "is required") : this;
        }
        return value < min || value > max ? Add(field, $"must be between {min} and {max}") : this;
    }

    public Check Length(string? value, int min, int max, string field, bool required = true)
    {
        if (string.IsNullOrEmpty(value))
        {
            return required ? Add(field, "is required") : this;
        }
        if (value.Length < min || value.Length > max)
        {
            return Add(field, $"must be {min} to {max} characters");
        }
        return value.Any(char.IsControl) ? Add(field, "must not contain control characters") : this;
    }

    /// <summary>Ids: letters, digits, '.', '_' and '-', starting with a letter or digit.</summary>
    public Check Id(string? value, string field, bool required = true)
    {
        if (string.IsNullOrEmpty(value))
        {
            return required ? Add(field, "is required") : this;
        }
        return IdPattern().IsMatch(value) ? this : Add(field, "must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit");
    }

    public Check Province(string? value, string field, bool required = true)
    {
        if (string.IsNullOrEmpty(value))
        {
            return required ? Add(field, "is required") : this;
        }
        return Provinces.IsKnown(value) ? this : Add(field, $"'{Trim(value)}' is not a province of China (use English names, e.g. 'Gansu')");
    }

    public Check CreditCodeOf(string? value, string field, bool required = true)
    {
        if (string.IsNullOrEmpty(value))
        {
            return required ? Add(field, "is required") : this;
        }
        return CreditCode.Validate(value) is { } problem ? Add(field, problem) : this;
    }

    public Check GpuModel(string? value, string field)
    {
        if (string.IsNullOrEmpty(value))
        {
            return Add(field, "is required");
        }
        return GpuModels.IsKnown(value) ? this : Add(field, $"'{Trim(value)}' is not traded here; known models: {string.Join(", ", GpuModels.Known)}");
    }

    public Check Enum<T>(string? value, string field, out T parsed, bool required = true) where T : struct, System.Enum
    {
        parsed = default;
        if (string.IsNullOrEmpty(value))
        {
            return required ? Add(field, "is required") : this;
        }
        if (!System.Enum.TryParse(value, ignoreCase: true, out parsed) || !System.Enum.IsDefined(parsed) || int.TryParse(value, out _))
        {
            return Add(field, $"must be one of {string.Join(", ", System.Enum.GetNames<T>())}");
        }
        return this;
    }

    public static string Trim(string value) => value.Length > 40 ? value[..40] + "…" : value;

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    private static partial Regex IdPattern();
}
