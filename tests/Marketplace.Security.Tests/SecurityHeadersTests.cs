using System.Net;
using System.Text;
using Xunit;

namespace Marketplace.Security.Tests;

/// <summary>Pages and every answer of the API, errors included, carry the headers that stop sniffing, framing and inline script.</summary>
[Collection(MatrixCollection.Name)]
public sealed class SecurityHeadersTests(MatrixCluster web)
{
    public static TheoryData<string, string, string?, HttpStatusCode> Answers => new()
    {
        { "page", "/", null, HttpStatusCode.OK },
        { "api", "/api/v1/markets", Names.Roles.Sme, HttpStatusCode.OK },
        { "unauthenticated", "/api/v1/markets", null, HttpStatusCode.Unauthorized },
        { "forbidden", "/api/v1/audit", Names.Roles.Sme, HttpStatusCode.Forbidden },
        { "not found", "/api/v1/vouchers/v-nonexistent", Names.Roles.Sme, HttpStatusCode.NotFound },
        { "validation", "/api/v1/markets/H100-80G/book", Names.Roles.Sme, HttpStatusCode.UnprocessableEntity },
        { "malformed JSON", "POST /api/v1/quotes {\"gpuModel\":", Names.Roles.Sme, HttpStatusCode.BadRequest },
        { "body too large", "POST /api/v1/quotes LARGE", Names.Roles.Sme, HttpStatusCode.RequestEntityTooLarge },
        { "unsupported media type", "POST /api/v1/quotes TEXT", Names.Roles.Sme, HttpStatusCode.UnsupportedMediaType },
    };

    [Theory]
    [MemberData(nameof(Answers))]
    public async Task Every_answer_carries_the_security_headers(string what, string request, string? role, HttpStatusCode status)
    {
        var world = await web.WorldAsync();
        using var client = role is null ? web.Client() : web.Client(role, tenantId: world.TenantA);
        var parts = request.Split(' ', 3);
        using var message = parts[0] == "POST"
            ? Requests.Raw("POST", parts[1], parts[2] switch
            {
                "LARGE" => Encoding.UTF8.GetBytes($"{{\"gpuModel\":\"{new string('x', (int)Marketplace.Web.WebSetup.MaxRequestBodyBytes)}\"}}"),
                "TEXT" => "gpuModel=H800-80G"u8.ToArray(),
                var json => Encoding.UTF8.GetBytes(json),
            }, parts[2] == "TEXT" ? "text/plain" : "application/json")
            : new HttpRequestMessage(HttpMethod.Get, parts[0]);
        using var response = await client.SendAsync(message);

        Assert.Equal(status, response.StatusCode);
        Assert.Equal("nosniff", Assert.Single(response.Headers.GetValues("X-Content-Type-Options")));
        Assert.Equal("DENY", Assert.Single(response.Headers.GetValues("X-Frame-Options")));
        var policy = Assert.Single(response.Headers.GetValues("Content-Security-Policy"));
        Assert.Contains("script-src 'self';", policy);
        Assert.DoesNotContain("unsafe-inline", policy);
        Assert.Contains("frame-ancestors 'none'", policy);
        Assert.Contains("connect-src 'self';", policy);
        Assert.Equal("no-referrer", Assert.Single(response.Headers.GetValues("Referrer-Policy")));
        // Answers of the API are about one caller: no cache in between may keep them.
        Assert.Equal(what != "page", response.Headers.CacheControl?.NoStore == true);
        Assert.False(response.Headers.Contains("Strict-Transport-Security"), "served over plain HTTP");
        if (status != HttpStatusCode.OK)
        {
            var problem = await response.Problem();
            Assert.False(string.IsNullOrEmpty(problem.Code()), what);
            Assert.Equal($"/problems/{problem.Code()}", problem.GetProperty("type").GetString());
        }
    }

    [Fact]
    public async Task The_pages_have_no_inline_script_or_handlers_the_policy_would_block()
    {
        var html = await web.Client().GetStringAsync("/");
        Assert.DoesNotMatch("<script(?![^>]*\\ssrc=)[^>]*>", html);
        Assert.DoesNotMatch("\\son[a-z]+\\s*=", html);
        Assert.DoesNotContain("javascript:", html);
    }
}
