using Microsoft.Net.Http.Headers;

namespace Marketplace.Web.Infrastructure;

/// <summary>
/// Request bodies are JSON in UTF-8 (RFC 8259 §8.1). A JSON body declared in another charset is refused with 415 before
/// anything reads it: the JSON reader fails on a charset .NET does not know with an exception that would be a 500.
/// </summary>
internal sealed class Utf8BodyMiddleware(RequestDelegate next)
{
    public Task InvokeAsync(HttpContext context)
    {
        if (context.Request.HasJsonContentType() && MediaTypeHeaderValue.TryParse(context.Request.ContentType, out var type)
            && HeaderUtilities.RemoveQuotes(type.Charset) is { Length: > 0 } charset
            && !charset.Equals("utf-8", StringComparison.OrdinalIgnoreCase) && !charset.Equals("utf8", StringComparison.OrdinalIgnoreCase))
        {
            return Problems.Of(StatusCodes.Status415UnsupportedMediaType, "unsupported-media-type", "The request body must be JSON in UTF-8",
                $"charset '{Check.Trim(charset.Value!)}' is not accepted").ExecuteAsync(context);
        }
        return next(context);
    }
}
