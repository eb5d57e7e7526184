namespace Marketplace.Grains;

[GenerateSerializer]
public sealed class ProviderState : CompanyReview.IReviewed<ProviderRegistration>
{
    [Id(0)] public ProviderRegistration? Registration { get; set; }
    [Id(1)] public DateTimeOffset RegisteredAt { get; set; }
    /// <summary>The provider's pools and the GPU model (and so the market) of each.</summary>
    [Id(2)] public Dictionary<string, string> Pools { get; set; } = [];
    [Id(3)] public CompanyStatus? Status { get; set; }
    /// <summary>The registration as last verified: what a later change is compared with.</summary>
    [Id(4)] public ProviderRegistration? Verified { get; set; }
}
