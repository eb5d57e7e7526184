using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Marketplace.Data.Hosting;
using Marketplace.Web;
using Marketplace.Web.Infrastructure;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Xunit;

namespace Marketplace.Security.Tests;

/// <summary>Who can get a token, and which tokens the web tier accepts.</summary>
[Collection(MatrixCollection.Name)]
public sealed class StartupAndTokenTests(MatrixCluster web)
{
    private const string ProductionKey = "a-production-signing-key-from-the-vault-0123456789";
    private const string DevTokenRoute = "POST /api/v1/auth/dev-token";

    /// <summary>A PKCS#12 file with a self-signed key, as a deployment's secrets would give the OpenID Connect provider.</summary>
    private static readonly Lazy<string> OidcCertificate = new(() =>
    {
        using var rsa = RSA.Create(2048);
        var request = new CertificateRequest("CN=marketplace-test-oidc", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, critical: true));
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
        var path = Path.Combine(Path.GetTempPath(), $"marketplace-oidc-{Guid.NewGuid():N}.pfx");
        File.WriteAllBytes(path, certificate.Export(X509ContentType.Pfx));
        return path;
    });

    /// <summary>The web tier as Program builds it, in an environment, with settings; built but never started.</summary>
    private static WebApplication Build(string environment, params (string Key, string? Value)[] settings)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = environment });
        var values = new Dictionary<string, string?>
        {
            ["ConnectionStrings:Marketplace"] = "Host=127.0.0.1;Port=1;Username=nobody;Password=nothing",
            ["Auth:SigningKey"] = ProductionKey,
            ["Auth:Oidc:Issuer"] = "https://market.example.cn/",
            ["Auth:Oidc:SigningCertificatePath"] = OidcCertificate.Value,
            ["Auth:Oidc:EncryptionCertificatePath"] = OidcCertificate.Value,
        };
        foreach (var (key, value) in settings)
        {
            values[key] = value;
        }
        builder.Configuration.AddInMemoryCollection(values);
        builder.AddMarketplaceWeb();
        var app = builder.Build();
        app.MapMarketplaceApi();
        return app;
    }

    private static IReadOnlyList<string> Routes(WebApplication app) =>
        ((IEndpointRouteBuilder)app).DataSources.SelectMany(d => d.Endpoints).OfType<RouteEndpoint>()
            .SelectMany(e => (e.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? ["*"]).Select(m => $"{m} {e.RoutePattern.RawText}"))
            .ToList();

    /// <summary>
    /// Development tokens are issued, and a token signed with the signing key (a development token, or one forged with a
    /// key that leaked) is trusted, only in Development with Auth:DevTokens on. They were trusted wherever the key was set,
    /// which it had to be everywhere.
    /// </summary>
    [Theory]
    [InlineData("Development", "true", true)]
    [InlineData("Development", "false", false)]
    [InlineData("Production", "true", false)]
    [InlineData("Staging", "true", false)]
    [InlineData("Production", "false", false)]
    public async Task Development_tokens_are_issued_and_trusted_only_in_development_when_switched_on(string environment, string devTokens, bool on)
    {
        await using var app = Build(environment, ("Auth:DevTokens", devTokens));
        Assert.Equal(on, Routes(app).Contains(DevTokenRoute));
        var token = new TokenIssuer(new AuthSettings { SigningKey = ProductionKey }, TimeProvider.System).Issue(Names.Roles.Admin, null, null);
        var bearer = app.Services.GetRequiredService<IOptionsMonitor<JwtBearerOptions>>().Get(JwtBearerDefaults.AuthenticationScheme);
        var result = await new JsonWebTokenHandler().ValidateTokenAsync(token, bearer.TokenValidationParameters);
        Assert.True(on == result.IsValid, result.Exception?.Message);
    }

    /// <summary>The signing key signs development tokens only: where they are off, nothing needs it (docker-compose sets none).</summary>
    [Theory]
    [InlineData("Production", "true", "")]
    [InlineData("Production", "false", null)]
    [InlineData("Staging", "true", "too-short-a-key")]
    [InlineData("Development", "false", "")]
    public async Task Without_development_tokens_the_web_tier_starts_without_a_signing_key(string environment, string devTokens, string? key)
    {
        await using var app = Build(environment, ("Auth:DevTokens", devTokens), ("Auth:SigningKey", key));
        Assert.DoesNotContain(DevTokenRoute, Routes(app));
    }

    [Theory]
    [InlineData("")]
    [InlineData("too-short-a-key")]
    [InlineData(null)]
    public void With_development_tokens_in_development_the_web_tier_refuses_to_start_without_a_signing_key(string? key)
    {
        var refused = Assert.Throws<StartupException>(() => Build("Development", ("Auth:DevTokens", "true"), ("Auth:SigningKey", key)));
        Assert.Equal(StartupCheck.BadSetting, refused.ExitCode);
        Assert.Equal("Auth:SigningKey must be set to at least 32 characters when Auth:DevTokens is on in Development", refused.Message);
    }

    [Theory]
    [InlineData("Auth:Oidc:Issuer", "", "Auth:Oidc:Issuer")]
    [InlineData("Auth:Oidc:Issuer", "market.example.cn", "Auth:Oidc:Issuer")]
    [InlineData("Auth:Oidc:SigningCertificatePath", null, "Auth:Oidc:SigningCertificatePath")]
    [InlineData("Auth:Oidc:EncryptionCertificatePath", "/no/such/file.pfx", "Auth:Oidc:EncryptionCertificatePath")]
    [InlineData("Auth:External:KeySet", "not a key set", "Auth:External:KeySet")]
    [InlineData("Auth:External:KeySet", "{\"keys\":[]}", "Auth:External:KeySet")]
    public void Outside_development_the_web_tier_refuses_to_start_without_a_sound_sign_in_setting(string key, string? value, string named)
    {
        var refused = Assert.Throws<StartupException>(() => Build("Production",
            ("Auth:External:Issuer", "https://sso.example.gov.cn/"), ("Auth:External:Audience", "marketplace"),
            ("Auth:External:KeySet", """{"keys":[{"kty":"RSA","use":"sig","kid":"k1","n":"AQAB","e":"AQAB"}]}"""), (key, value)));
        Assert.Equal(StartupCheck.BadSetting, refused.ExitCode);
        Assert.Contains(named, refused.Message);
    }

    public static TheoryData<string, string> ForgedTokens()
    {
        var now = TimeProvider.System.GetUtcNow();
        var settings = new AuthSettings { SigningKey = "test-signing-key-0123456789abcdef0123456789" };
        static string Encode(string json) => Convert.ToBase64String(Encoding.UTF8.GetBytes(json)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        var exp = now.AddHours(1).ToUnixTimeSeconds();
        return new TheoryData<string, string>
        {
            { "expired", new TokenIssuer(settings, new FakeTimeProvider(now.AddDays(-2))).Issue(Names.Roles.Admin, null, null) },
            { "signed with another key", new TokenIssuer(new AuthSettings { SigningKey = "someone-elses-signing-key-0123456789abcdef" }, TimeProvider.System)
                .Issue(Names.Roles.Admin, null, null) },
            { "from another issuer", new TokenIssuer(new AuthSettings { SigningKey = settings.SigningKey, Issuer = "elsewhere" }, TimeProvider.System)
                .Issue(Names.Roles.Admin, null, null) },
            { "unsigned (alg none)", Encode("{\"alg\":\"none\",\"typ\":\"JWT\"}") + "." +
                Encode($"{{\"sub\":\"m\",\"role\":\"admin\",\"iss\":\"{settings.Issuer}\",\"aud\":\"{settings.Issuer}\",\"exp\":{exp}}}") + "." },
            { "garbage", "abc.def.ghi" },
        };
    }

    [Theory]
    [MemberData(nameof(ForgedTokens))]
    public async Task A_token_that_is_expired_forged_or_foreign_is_refused_with_401(string what, string token)
    {
        using var client = web.Client();
        client.DefaultRequestHeaders.Authorization = new("Bearer", token);
        var response = await client.GetAsync("/api/v1/audit");
        Assert.True(HttpStatusCode.Unauthorized == response.StatusCode, what);
        Assert.Equal("unauthenticated", (await response.Problem()).Code());
    }

    [Fact]
    public async Task A_role_token_without_the_tenant_or_provider_it_acts_for_is_refused_with_403()
    {
        var issuer = web.Factory.Services.GetRequiredService<TokenIssuer>();
        foreach (var (role, url) in new[] { (Names.Roles.Sme, "/api/v1/tenants/me"), (Names.Roles.Provider, "/api/v1/providers/me") })
        {
            using var client = web.Client();
            client.DefaultRequestHeaders.Authorization = new("Bearer", issuer.Issue(role, null, null));
            Assert.Equal(HttpStatusCode.Forbidden, (await client.GetAsync(url)).StatusCode);
        }
        using var unknown = web.Client();
        unknown.DefaultRequestHeaders.Authorization = new("Bearer", issuer.Issue("superuser", null, null));
        Assert.Equal(HttpStatusCode.Forbidden, (await unknown.GetAsync("/api/v1/audit")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await unknown.GetAsync("/api/v1/utilization")).StatusCode);
    }

    [Fact]
    public async Task A_provider_token_cannot_act_as_the_tenant_with_the_same_id()
    {
        var world = await web.WorldAsync();
        using var client = web.Provider(world.TenantA);
        Assert.Equal(HttpStatusCode.Forbidden, (await client.GetAsync("/api/v1/tenants/me")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/api/v1/vouchers/{world.VoucherA.Id}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/api/v1/reservations/{world.ReservationA}")).StatusCode);
    }

    /// <summary>Claim values by a name each (the values themselves, NUL above all, do not belong in test names).</summary>
    private static readonly Dictionary<string, string> MalformedIds = new()
    {
        ["empty"] = "",
        ["a space"] = " ",
        ["a NUL character"] = "\0",
        ["a bidirectional override"] = "tenant\u202e1",
        ["65 characters"] = new string('a', 65),
    };

    public static TheoryData<string, string> MalformedActingClaims()
    {
        var data = new TheoryData<string, string>();
        foreach (var name in MalformedIds.Keys)
        {
            data.Add(Names.Roles.Sme, name);
            data.Add(Names.Roles.Provider, name);
        }
        return data;
    }

    /// <summary>
    /// A token for an SME or a provider whose tenant or provider claim is empty, blank or not an id: refused with 401 on every
    /// path. Such a claim used to reach the grains as an empty or unstorable key (500, or 503 for a fault that never passes).
    /// </summary>
    [Theory]
    [MemberData(nameof(MalformedActingClaims))]
    public async Task A_token_whose_tenant_or_provider_claim_is_empty_blank_or_malformed_is_refused_with_401(string role, string what)
    {
        var claim = role == Names.Roles.Sme ? Names.Claims.TenantId : Names.Claims.ProviderId;
        var token = Signed(new() { [Names.Claims.Subject] = "someone", [Names.Claims.Role] = role, [claim] = MalformedIds[what] });
        var urls = role == Names.Roles.Sme ? new[] { "/api/v1/tenants/me", "/api/v1/tenants/me/bids" } : ["/api/v1/providers/me"];
        foreach (var url in urls)
        {
            using var client = web.Client();
            client.DefaultRequestHeaders.Authorization = new("Bearer", token);
            var response = await client.GetAsync(url);
            Assert.True(HttpStatusCode.Unauthorized == response.StatusCode, $"{url} with {what}: {(int)response.StatusCode}");
            Assert.Equal("unauthenticated", (await response.Problem()).Code());
        }
    }

    [Fact]
    public async Task A_token_with_more_than_one_role_is_refused_with_401()
    {
        var token = Signed(new()
        {
            [Names.Claims.Subject] = "someone",
            [Names.Claims.Role] = new[] { Names.Roles.Sme, Names.Roles.Admin },
            [Names.Claims.TenantId] = "tenant-1",
        });
        foreach (var url in new[] { "/api/v1/tenants/me", "/api/v1/audit" })
        {
            using var client = web.Client();
            client.DefaultRequestHeaders.Authorization = new("Bearer", token);
            var response = await client.GetAsync(url);
            Assert.True(HttpStatusCode.Unauthorized == response.StatusCode, $"{url}: {(int)response.StatusCode}");
        }
    }

    /// <summary>A token signed with the web tier's own key, with claims of any shape: what a faulty issuer could hand out.</summary>
    private string Signed(Dictionary<string, object> claims)
    {
        var settings = web.Factory.Services.GetRequiredService<AuthSettings>();
        var now = DateTime.UtcNow;
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = settings.Issuer,
            Audience = settings.Issuer,
            Claims = claims,
            IssuedAt = now,
            NotBefore = now.AddMinutes(-1),
            Expires = now.AddHours(1),
            SigningCredentials = new SigningCredentials(settings.Key(), SecurityAlgorithms.HmacSha256),
        });
    }
}
