namespace Marketplace;

/// <summary>What went wrong, in the terms the HTTP layer maps to a status code.</summary>
[GenerateSerializer]
public enum ErrorKind
{
    /// <summary>The request is well formed but breaks a rule (422).</summary>
    Rule,
    /// <summary>The thing does not exist, or the caller may not know it exists (404).</summary>
    NotFound,
    /// <summary>The request conflicts with the current state, e.g. an idempotency key reused with another body (409).</summary>
    Conflict,
    /// <summary>The caller is known but may not do this (403).</summary>
    Forbidden,
    /// <summary>A dependency is briefly unavailable; the request may be retried (503).</summary>
    Unavailable,
    /// <summary>The request was made from a version of the thing that is no longer current (412).</summary>
    PreconditionFailed,
}

/// <summary>A domain rule refused the request. Carries a stable code the API exposes as the problem type.</summary>
[GenerateSerializer, Alias("domain-exception")]
public sealed class DomainException : Exception
{
    public DomainException(ErrorKind kind, string code, string message, string? field = null) : base(message)
    {
        Kind = kind;
        Code = code;
        Field = field;
    }

    [Id(0)] public ErrorKind Kind { get; private set; }
    [Id(1)] public string Code { get; private set; }
    [Id(2)] public string? Field { get; private set; }

    public static DomainException NotFound(string what, string id) =>
        new(ErrorKind.NotFound, "not-found", $"{what} '{id}' was not found.");

    public static DomainException Rule(string code, string message, string? field = null) =>
        new(ErrorKind.Rule, code, message, field);

    public static DomainException Conflict(string code, string message) =>
        new(ErrorKind.Conflict, code, message);
}
