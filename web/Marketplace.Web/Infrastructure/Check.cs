using System.Text.RegularExpressions;

namespace Marketplace.Web.Infrastructure;

/// <summary>Collects field errors of one request so the caller hears about all of them at once.</summary>
internal sealed partial class Check
{
    private readonly Dictionary<string, List<string>> _errors = new(StringComparer.Ordinal);
    private readonly HashSet<string> _missing = new(StringComparer.Ordinal);

    public bool Ok => _errors.Count == 0;

    /// <summary>
    /// The check of a request body: it starts with the required fields the body lacks (<see cref="RequiredFields"/>), each
    /// "is required", and says nothing more about them (a missing field has no length, range or format to be wrong).
    /// </summary>
    public static Check Of<T>(T? request) where T : class
    {
        var check = new Check();
        foreach (var field in request is null ? [] : RequiredFields.Missing(request))
        {
            check.Missing(field, RequiredMessage);
        }
        return check;
    }

    /// <summary>A field left out that this request needs (one not always required, so not marked on the body); nothing more is said about it.</summary>
    public Check Missing(string field, string message)
    {
        Add(field, message);
        _missing.Add(field);
        return this;
    }

    /// <summary>The field error of a required field left out.</summary>
    public const string RequiredMessage = "is required";

    public IResult Problem() => Problems.Validation(_errors.ToDictionary(e => e.Key, e => e.Value.ToArray()));

    public Check Add(string field, string message)
    {
        if (_missing.Contains(field))
        {
            return this;
        }
        if (!_errors.TryGetValue(field, out var list))
        {
            _errors[field] = list = [];
        }
        list.Add(message);
        return this;
    }

    /// <summary>Takes in the field errors of a domain rule.</summary>
    public Check Add(FieldErrors errors)
    {
        foreach (var (field, messages) in errors.ByField)
        {
            foreach (var message in messages)
            {
                Add(field, message);
            }
        }
        return this;
    }

    /// <summary>A name people read: its length, and no characters that hide or reorder text (<see cref="NameRules"/>).</summary>
    public Check Name(string? value, string field, int max = NameRules.MaxLength)
    {
        var before = _errors.Count;
        Length(value, 1, max, field);
        return _errors.Count == before && value is not null && NameRules.Problem(value) is { } problem ? Add(field, problem) : this;
    }

    /// <summary>A value that is not a request body's field (a query parameter) but is needed all the same; a body's fields are marked instead (<see cref="Of{T}"/>).</summary>
    public Check Required<T>(T? value, string field) where T : class
    {
        return value is null || value is string s && string.IsNullOrWhiteSpace(s) ? Missing(field, RequiredMessage) : this;
    }

    public Check Required<T>(T? value, string field) where T : struct
    {
        return value is null ? Missing(field, RequiredMessage) : this;
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
        if (min > 0 && string.IsNullOrWhiteSpace(value))
        {
            return Add(field, required ? "is required" : "must not be blank");
        }
        return value.Any(char.IsControl) ? Add(field, "must not contain control characters") : this;
    }

    /// <summary>Ids: letters, digits, '.', '_' and '-', starting with a letter or digit.</summary>
    public Check Id(string? value, string field, bool required = true)
    {
        // An optional id left out is null; an empty one is not "no id" but an id the grains cannot take.
        if (value is null || required && value.Length == 0)
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
        // Exactly one name: Enum.TryParse alone also takes numbers and comma-separated lists ("Ioc,Gtc" would be Gtc).
        var name = System.Enum.GetNames<T>().FirstOrDefault(n => string.Equals(n, value, StringComparison.OrdinalIgnoreCase));
        if (name is null)
        {
            return Add(field, $"must be one of {string.Join(", ", System.Enum.GetNames<T>())}");
        }
        parsed = System.Enum.Parse<T>(name);
        return this;
    }

    /// <summary>True for a well-formed id (one that could exist).</summary>
    public static bool IsId(string value) => IdPattern().IsMatch(value);

    public static string Trim(string value) => value.Length > 40 ? value[..40] + "…" : value;

    // \z, not $: $ also matches before a final newline, which would let "id\n" through.
    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\\z")]
    private static partial Regex IdPattern();
}

/// <summary>
/// An id in the path that no resource can have (the id pattern is the same for all) is not found, answered before a grain
/// is activated for it: arbitrary strings would otherwise each cost an activation and a database read.
/// </summary>
internal sealed class PathIdFilter : IEndpointFilter
{
    private static readonly string[] IdRouteValues = ["id", "providerId", "poolId"];

    public ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        foreach (var name in IdRouteValues)
        {
            if (context.HttpContext.Request.RouteValues.TryGetValue(name, out var value) && value is string id && !Check.IsId(id))
            {
                return ValueTask.FromResult<object?>(Problems.Of(StatusCodes.Status404NotFound, "not-found", "Not found",
                    $"nothing has the id '{Check.Trim(id)}'"));
            }
        }
        return next(context);
    }
}

/// <summary>A page of a list the API reads out: numbered from 1, 100 rows unless asked, at most 1,000.</summary>
internal readonly record struct Page(int Number, int Size)
{
    public const int DefaultSize = 100;
    public const int MaxSize = 1_000;
    public const int MaxNumber = 1_000_000;

    /// <summary>The page asked for; a number or size out of range is added to <paramref name="check"/>.</summary>
    public static Page Of(int? page, int? pageSize, Check check)
    {
        check.Range(page ?? 1, 1, MaxNumber, "page").Range(pageSize ?? DefaultSize, 1, MaxSize, "pageSize");
        return new Page(page ?? 1, pageSize ?? DefaultSize);
    }
}
