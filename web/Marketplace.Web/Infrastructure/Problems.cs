using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;
using Npgsql;

namespace Marketplace.Web.Infrastructure;

/// <summary>RFC 7807 bodies with a stable <c>type</c> and <c>code</c> for every error the API returns.</summary>
internal static class Problems
{
    public static string Type(string code) => $"/problems/{code}";

    public static IResult Validation(IReadOnlyDictionary<string, string[]> errors) => TypedResults.Problem(
        statusCode: StatusCodes.Status422UnprocessableEntity,
        title: "The request has invalid fields",
        detail: string.Join("; ", errors.Select(e => $"{e.Key}: {string.Join(", ", e.Value)}")),
        type: Type("validation"),
        extensions: new Dictionary<string, object?> { ["code"] = "validation", ["errors"] = errors });

    public static IResult Of(int status, string code, string title, string? detail = null, string? field = null)
    {
        var extensions = new Dictionary<string, object?> { ["code"] = code };
        if (field is not null)
        {
            extensions["errors"] = new Dictionary<string, string[]> { [field] = [detail ?? title] };
        }
        return TypedResults.Problem(statusCode: status, title: title, detail: detail, type: Type(code), extensions: extensions);
    }

    /// <summary>An id that does not exist or is not the caller's: the same answer, so ids cannot be probed.</summary>
    public static IResult NotFound(HttpContext context, string what, string id)
    {
        AuditMiddleware.MarkDenied(context);
        return Of(StatusCodes.Status404NotFound, "not-found", $"{what} not found", $"{what} '{Check.Trim(id)}' was not found");
    }

    public static int Status(ErrorKind kind) => kind switch
    {
        ErrorKind.NotFound => StatusCodes.Status404NotFound,
        ErrorKind.Conflict => StatusCodes.Status409Conflict,
        ErrorKind.Forbidden => StatusCodes.Status403Forbidden,
        ErrorKind.Unavailable => StatusCodes.Status503ServiceUnavailable,
        ErrorKind.PreconditionFailed => StatusCodes.Status412PreconditionFailed,
        _ => StatusCodes.Status422UnprocessableEntity,
    };

    /// <summary>Failures of the cluster or the database that a retry may cure: answered 503 with Retry-After.</summary>
    public static bool IsTransient(Exception e) =>
        e is TimeoutException or OrleansException or DomainException { Kind: ErrorKind.Unavailable } or NpgsqlException { IsTransient: true };
}

/// <summary>Turns every exception into a problem response; only a genuine bug is a 500.</summary>
internal sealed class ProblemExceptionHandler(IProblemDetailsService problems, ILogger<ProblemExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        if (exception is OperationCanceledException && context.RequestAborted.IsCancellationRequested)
        {
            return true; // the client went away
        }
        var (status, code, title, detail, field) = Map(exception);
        if (status >= 500 && status != 503)
        {
            logger.LogError(exception, "Unhandled error on {Method} {Path}", context.Request.Method, context.Request.Path);
        }
        else if (status == 503)
        {
            logger.LogWarning("Answered 503 on {Method} {Path}: {Error}", context.Request.Method, context.Request.Path, exception.Message);
            context.Response.Headers.RetryAfter = "1";
        }
        context.Response.StatusCode = status;
        var problem = new ProblemDetails { Status = status, Title = title, Detail = detail, Type = Problems.Type(code) };
        problem.Extensions["code"] = code;
        if (field is not null)
        {
            problem.Extensions["errors"] = new Dictionary<string, string[]> { [field] = [detail ?? title] };
        }
        return await problems.TryWriteAsync(new ProblemDetailsContext { HttpContext = context, ProblemDetails = problem, Exception = exception });
    }

    /// <summary>The problem an exception becomes (the audit trail records the same status the client gets).</summary>
    public static (int Status, string Code, string Title, string? Detail, string? Field) Map(Exception exception) => exception switch
    {
        DomainException d => (Problems.Status(d.Kind), d.Code, Title(d.Kind), d.Message, d.Field),
        BadHttpRequestException { StatusCode: 413 } => (413, "body-too-large", "The request body is too large", exception.Message, null),
        BadHttpRequestException { StatusCode: 415 } => (415, "unsupported-media-type", "The request body must be JSON", exception.Message, null),
        BadHttpRequestException b => (b.StatusCode, "malformed-request", "The request could not be read", Describe(b), null),
        JsonException j => (400, "malformed-request", "The request could not be read", j.Message, null),
        _ when Problems.IsTransient(exception) => (503, "unavailable", "The marketplace is briefly unavailable; retry shortly", null, null),
        _ => (500, "internal", "An unexpected error occurred", null, (string?)null),
        };

    private static string Title(ErrorKind kind) => kind switch
    {
        ErrorKind.NotFound => "Not found",
        ErrorKind.Conflict => "Conflict with the current state",
        ErrorKind.Forbidden => "Not allowed",
        ErrorKind.Unavailable => "The marketplace is briefly unavailable; retry shortly",
        ErrorKind.PreconditionFailed => "Changed since you read it",
        _ => "The request breaks a marketplace rule",
    };

    private static string Describe(BadHttpRequestException e) =>
        e.InnerException is JsonException json ? $"invalid JSON: {json.Message}" : e.Message;
}
