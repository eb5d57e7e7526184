using System.Runtime.CompilerServices;
using Marketplace.Testing;

namespace Marketplace.Web.Tests.Contract;

/// <summary>
/// Checks every exchange of a test's HTTP client with the web tier against the served OpenAPI document, and throws
/// <see cref="ContractViolation"/> on a mismatch, so the test that made the call fails. Requests outside /api are not checked.
/// </summary>
public sealed class ContractHandler(Func<Task<ApiContract>> contract) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var path = request.RequestUri!.AbsolutePath;
        if (!ApiContract.Describes(path))
        {
            return await base.SendAsync(request, cancellationToken);
        }
        string? requestJson = null;
        if (request.Content is { } content && IsJson(content.Headers.ContentType?.MediaType))
        {
            await content.LoadIntoBufferAsync(cancellationToken);
            requestJson = await content.ReadAsStringAsync(cancellationToken);
        }
        var response = await base.SendAsync(request, cancellationToken);
        string? responseJson = null;
        if (IsJson(response.Content.Headers.ContentType?.MediaType))
        {
            await response.Content.LoadIntoBufferAsync(cancellationToken);
            responseJson = await response.Content.ReadAsStringAsync(cancellationToken);
        }
        if ((await contract()).Check(request.Method.Method, path, requestJson, (int)response.StatusCode, responseJson) is { } violation)
        {
            throw new ContractViolation(violation);
        }
        return response;
    }

    private static bool IsJson(string? mediaType) => mediaType is not null && (mediaType == "application/json" || mediaType.EndsWith("+json", StringComparison.Ordinal));
}

/// <summary>An exchange that does not keep to the API document.</summary>
public sealed class ContractViolation(string message) : Exception($"The exchange does not match the OpenAPI document: {message}");

/// <summary>Every web tier of these tests hands its clients a contract check (see <see cref="WebCluster.ExchangeCheck"/>).</summary>
internal static class ContractSetup
{
    [ModuleInitializer]
    internal static void CheckEveryExchange() => WebCluster.ExchangeCheck = web => new ContractHandler(() => ApiContract.Of(web));
}
