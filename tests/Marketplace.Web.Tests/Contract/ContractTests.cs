using System.Net;
using System.Text;
using Marketplace.Testing;
using Xunit;

namespace Marketplace.Web.Tests.Contract;

/// <summary>The contract check itself: it reports what does not keep to the document, and passes what does.</summary>
[Collection(PlatformCollection.Name)]
public sealed class ContractTests(PlatformCluster web)
{
    [Fact]
    public async Task An_undeclared_status_is_reported_with_the_operation_and_status()
    {
        var violation = await Assert.ThrowsAsync<ContractViolation>(() => Exchange(HttpMethod.Get, "/api/v1/programs/p1", HttpStatusCode.MethodNotAllowed, null));
        Assert.Contains("getProgram (GET /api/v1/programs/{id}): answered 405, which the document does not declare", violation.Message);
    }

    [Fact]
    public async Task A_response_missing_a_required_field_is_reported_with_its_json_path()
    {
        var violation = await Assert.ThrowsAsync<ContractViolation>(() => Exchange(HttpMethod.Get, "/api/v1/markets/H800-80G/book", HttpStatusCode.OK,
            """{"gpuModel":"H800-80G","bids":[{"fenPerGpuHour":1500,"gpus":8}],"asks":[],"at":"2026-01-01T00:00:00+00:00"}"""));
        Assert.Contains("getOrderBook (GET /api/v1/markets/{gpuModel}/book): the 200 response body does not match the document", violation.Message);
        Assert.Contains("at $.bids.0:", violation.Message);
    }

    [Fact]
    public async Task A_problem_without_its_code_is_reported()
    {
        var violation = await Assert.ThrowsAsync<ContractViolation>(() => Exchange(HttpMethod.Get, "/api/v1/programs/p1", HttpStatusCode.NotFound,
            """{"type":"/problems/not-found","title":"program not found","status":404}""", "application/problem+json"));
        Assert.Contains("the 404 response body does not match the document", violation.Message);
        Assert.Contains("code", violation.Message);
    }

    [Fact]
    public async Task A_request_body_of_the_wrong_type_is_reported()
    {
        var violation = await Assert.ThrowsAsync<ContractViolation>(() => Exchange(HttpMethod.Post, "/api/v1/bids", HttpStatusCode.Created, null,
            request: """{"gpuModel":"H800-80G","gpuCount":"eight"}"""));
        Assert.Contains("placeBid (POST /api/v1/bids): the request body does not match the document", violation.Message);
        Assert.Contains("at $.gpuCount:", violation.Message);
    }

    [Fact]
    public async Task A_request_without_a_required_field_is_reported_when_the_api_takes_it()
    {
        var violation = await Assert.ThrowsAsync<ContractViolation>(() => Exchange(HttpMethod.Post, "/api/v1/programs/p1/close", HttpStatusCode.OK, null,
            request: "{}"));
        Assert.Contains("closeProgram (POST /api/v1/programs/{id}/close): the request body does not match the document, yet the API answered 200", violation.Message);
        Assert.Contains("reason", violation.Message);
    }

    [Fact]
    public async Task A_request_without_a_required_field_keeps_to_the_document_when_the_api_refuses_it_422()
    {
        using var response = await Exchange(HttpMethod.Post, "/api/v1/programs/p1/close", HttpStatusCode.UnprocessableEntity,
            """{"type":"/problems/validation","title":"One or more fields are invalid","status":422,"code":"validation","errors":{"reason":["is required"]}}""",
            "application/problem+json", request: "{}");
        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
    }

    [Fact]
    public async Task A_path_or_method_the_document_does_not_have_is_reported()
    {
        var path = await Assert.ThrowsAsync<ContractViolation>(() => Exchange(HttpMethod.Get, "/api/v1/nothing-here", HttpStatusCode.NotFound, null));
        Assert.Contains("GET /api/v1/nothing-here: no operation of the document has this path", path.Message);
        var method = await Assert.ThrowsAsync<ContractViolation>(() => Exchange(HttpMethod.Put, "/api/v1/programs/p1", HttpStatusCode.MethodNotAllowed, null));
        Assert.Contains("the document's operations on this path are GET, not PUT", method.Message);
    }

    [Fact]
    public async Task An_exchange_that_keeps_to_the_document_passes_and_other_paths_are_not_checked()
    {
        using var response = await Exchange(HttpMethod.Get, "/api/v1/markets", HttpStatusCode.OK, """["H800-80G"]""");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var page = await Exchange(HttpMethod.Get, "/not/the/api", HttpStatusCode.Conflict, "{}");
        Assert.Equal(HttpStatusCode.Conflict, page.StatusCode);
    }

    [Fact]
    public async Task The_clients_of_the_web_tests_are_checked_and_the_opted_out_ones_are_not()
    {
        using var checkedClient = web.Client(Names.Roles.Admin);
        await Assert.ThrowsAsync<ContractViolation>(() => checkedClient.DeleteAsync("/api/v1/markets"));
        using var optedOut = web.Client(Names.Roles.Admin, checkContract: false);
        using var response = await optedOut.DeleteAsync("/api/v1/markets");
        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
    }

    /// <summary>Sends one request through the check to a stand-in for the web tier that answers as told.</summary>
    private async Task<HttpResponseMessage> Exchange(HttpMethod method, string path, HttpStatusCode status, string? body,
        string mediaType = "application/json", string? request = null)
    {
        var contract = await ApiContract.Of(web);
        using var client = new HttpClient(new ContractHandler(() => Task.FromResult(contract)) { InnerHandler = new Answer(status, body, mediaType) })
        {
            BaseAddress = new Uri("http://localhost"),
        };
        var message = new HttpRequestMessage(method, path);
        if (request is not null)
        {
            message.Content = new StringContent(request, Encoding.UTF8, "application/json");
        }
        return await client.SendAsync(message);
    }

    private sealed class Answer(HttpStatusCode status, string? body, string mediaType) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(new HttpResponseMessage(status) { Content = body is null ? new ByteArrayContent([]) : new StringContent(body, Encoding.UTF8, mediaType) });
    }
}
