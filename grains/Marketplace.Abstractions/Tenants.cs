namespace Marketplace;

/// <summary>
/// Who a tenant is. A startup team without a credit code gives a credibility statement and names its members instead.
/// </summary>
[GenerateSerializer, Immutable, Alias("tenant-registration")]
public sealed record TenantRegistration(
    [Id(0)] string Name,
    [Id(1)] TenantKind Kind,
    [Id(2)] string Province,
    [Id(3)] string? CreditCode,
    [Id(4)] IReadOnlyList<string> RelatedPartyCreditCodes,
    [Id(5)] string? CredibilityStatement,
    [Id(6)] IReadOnlyList<string>? Members = null);

[GenerateSerializer, Immutable, Alias("tenant-view")]
public sealed record TenantView(
    [Id(0)] string Id,
    [Id(1)] TenantRegistration Registration,
    [Id(2)] DateTimeOffset RegisteredAt,
    [Id(3)] CompanyStatus? Status = null);
