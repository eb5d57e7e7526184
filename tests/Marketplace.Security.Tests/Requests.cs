using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Xunit;

namespace Marketplace.Security.Tests;

public static class Requests
{
    public static HttpRequestMessage ToRequest(this Call call)
    {
        var request = new HttpRequestMessage(new HttpMethod(call.Method), call.Url);
        if (call.Body is not null)
        {
            request.Content = new StringContent(call.Body.ToJsonString(), Encoding.UTF8, "application/json");
        }
        if (call.IdempotencyKey is not null)
        {
            request.Headers.Add(Names.Headers.IdempotencyKey, call.IdempotencyKey);
        }
        return request;
    }

    public static async Task<HttpResponseMessage> SendAsync(this HttpClient client, Call call)
    {
        using var request = call.ToRequest();
        return await client.SendAsync(request);
    }

    /// <summary>A request with a body of raw bytes (malformed JSON, invalid UTF-8, another media type).</summary>
    public static HttpRequestMessage Raw(string method, string url, byte[]? body, string contentType = "application/json")
    {
        var request = new HttpRequestMessage(new HttpMethod(method), url);
        if (body is not null)
        {
            request.Content = new ByteArrayContent(body);
            request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        }
        return request;
    }

    /// <summary>The problem details of an error response (every error of the API is one).</summary>
    public static async Task<JsonElement> Problem(this HttpResponseMessage response)
    {
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return document.RootElement.Clone();
    }

    /// <summary>The field errors of a 422 (or 400) problem: field name to messages.</summary>
    public static IReadOnlyDictionary<string, string[]> Errors(this JsonElement problem) =>
        problem.TryGetProperty("errors", out var errors)
            ? errors.EnumerateObject().ToDictionary(e => e.Name, e => e.Value.EnumerateArray().Select(m => m.GetString()!).ToArray())
            : new Dictionary<string, string[]>();

    public static string Code(this JsonElement problem) => problem.GetProperty("code").GetString()!;
}
