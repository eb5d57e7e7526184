namespace Marketplace.Domain.Rules;

/// <summary>
/// What is wrong with a request, by field (the camelCase name the API uses). The web answers them as a 422; a grain
/// guarding the same rule throws on the first.
/// </summary>
public sealed class FieldErrors
{
    private readonly Dictionary<string, List<string>> _errors = new(StringComparer.Ordinal);

    public bool Ok => _errors.Count == 0;

    public IReadOnlyDictionary<string, List<string>> ByField => _errors;

    public FieldErrors Add(string field, string message)
    {
        if (!_errors.TryGetValue(field, out var list))
        {
            _errors[field] = list = [];
        }
        list.Add(message);
        return this;
    }

    /// <summary>Adds an error when a value is outside [min, max]; a missing value is an error only if it is required.</summary>
    public FieldErrors Range(long? value, Bounds bounds, string field, bool required = true) => Range(value, bounds.Min, bounds.Max, field, required);

    public FieldErrors Range(long? value, long min, long max, string field, bool required = true)
    {
        if (value is null)
        {
            return required ? Add(field, "is required") : this;
        }
        return value < min || value > max ? Add(field, $"must be between {min} and {max}") : this;
    }

    public (string Field, string Message)? First =>
        _errors.Count == 0 ? null : _errors.Select(e => (e.Key, e.Value[0])).First();
}

/// <summary>The smallest and largest value a field may take; the API document states the same numbers.</summary>
public readonly record struct Bounds(long Min, long Max);
