using System.ComponentModel.DataAnnotations;
using System.Security.Claims;
using System.Text;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Marketplace.Web.Infrastructure;

/// <summary>Bearer token settings ("Auth" section).</summary>
public sealed class AuthSettings
{
    public const string Section = "Auth";

    /// <summary>
    /// HMAC-SHA256 key of the development tokens; at least 32 characters. Read only where they are on
    /// (<see cref="DevTokensOn"/>): elsewhere it is not needed, and a token signed with it is refused.
    /// </summary>
    public string SigningKey { get; set; } = "";

    [Required]
    public string Issuer { get; set; } = "compute-voucher-marketplace";

    /// <summary>Issue and trust development tokens (honoured only in the Development environment).</summary>
    public bool DevTokens { get; set; }

    /// <summary>
    /// Whether development tokens are issued (at /api/v1/auth/dev-token) and trusted: in the Development environment, and
    /// only when <see cref="DevTokens"/> says so. Tests and run.sh set both; a deployment never has them.
    /// </summary>
    public bool DevTokensOn(IHostEnvironment environment) => environment.IsDevelopment() && DevTokens;

    [Range(typeof(TimeSpan), "00:01:00", "7.00:00:00")]
    public TimeSpan TokenLifetime { get; set; } = TimeSpan.FromHours(8);

    public SymmetricSecurityKey Key() => new(Encoding.UTF8.GetBytes(SigningKey));
}

/// <summary>Issues the tokens the development token endpoint hands out (and tests and the load tool use).</summary>
/// <remarks>Token lifetimes follow the real clock (it is what validation uses), not the market's clock.</remarks>
public sealed class TokenIssuer(AuthSettings settings, TimeProvider clock)
{
    private readonly JsonWebTokenHandler _handler = new();

    public string Issue(string role, string? tenantId, string? providerId, string? subject = null)
    {
        var claims = new Dictionary<string, object>
        {
            [Names.Claims.Subject] = subject ?? tenantId ?? providerId ?? $"{role}-{Guid.NewGuid():N}",
            [Names.Claims.Role] = role,
        };
        if (tenantId is not null)
        {
            claims[Names.Claims.TenantId] = tenantId;
        }
        if (providerId is not null)
        {
            claims[Names.Claims.ProviderId] = providerId;
        }
        var now = clock.GetUtcNow().UtcDateTime;
        return _handler.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = settings.Issuer,
            Audience = settings.Issuer,
            Claims = claims,
            IssuedAt = now,
            NotBefore = now.AddMinutes(-1),
            Expires = now + settings.TokenLifetime,
            SigningCredentials = new SigningCredentials(settings.Key(), SecurityAlgorithms.HmacSha256),
        });
    }

    /// <summary>
    /// How bearer tokens are validated: from one of the trusted issuers, for one of their audiences, signed with a key that
    /// issuer holds (<see cref="TokenValidationParameters.IssuerSigningKeyResolver"/> names the keys of each issuer).
    /// </summary>
    public static TokenValidationParameters Validation(IEnumerable<string> issuers, IEnumerable<string> audiences) => new()
    {
        ValidIssuers = issuers,
        ValidAudiences = audiences,
        ValidAlgorithms = [SecurityAlgorithms.HmacSha256, SecurityAlgorithms.RsaSha256, SecurityAlgorithms.EcdsaSha256],
        RoleClaimType = Names.Claims.Role,
        NameClaimType = Names.Claims.Subject,
        ClockSkew = TimeSpan.FromSeconds(30),
    };

    /// <summary>
    /// Why a validly signed token is still refused (401), or null: it must name exactly one role, and the tenant or provider
    /// it acts for, where it names one, must be an id. An empty, blank or malformed id would otherwise reach the grains
    /// as a key they cannot store.
    /// </summary>
    public static string? Refusal(ClaimsPrincipal user)
    {
        if (user.FindAll(Names.Claims.Role).Count() != 1)
        {
            return "a token must carry exactly one role";
        }
        foreach (var type in new[] { Names.Claims.TenantId, Names.Claims.ProviderId })
        {
            var values = user.FindAll(type).Select(c => c.Value).ToList();
            if (values.Count > 1 || values.Count == 1 && !Check.IsId(values[0]))
            {
                return $"the token's {type} claim is not an id";
            }
        }
        return null;
    }

    public static ClaimsPrincipal? Read(ClaimsPrincipal user) => user.Identity?.IsAuthenticated == true ? user : null;
}
