namespace Marketplace.Grains;

/// <summary>One voucher program (key: program id such as <c>bj-2026-b1</c>).</summary>
[Alias("voucher-program")]
public interface IVoucherProgramGrain : IGrainWithStringKey
{
    /// <summary>Creates the program; the same definition again is a no-op, another one is a conflict.</summary>
    [Alias("create")] Task<ProgramView> Create(ProgramDefinition definition);

    [Alias("get")] Task<ProgramView?> Get();

    /// <summary>Records a notice that approves or removes a provider from its effective date.</summary>
    [Alias("notice")] Task<ProgramView> PublishProviderNotice(ProviderNotice notice);

    [Alias("is-approved"), Orleans.Concurrency.AlwaysInterleave] Task<bool> IsProviderApproved(string providerId, DateTimeOffset on);

    /// <summary>Every approval notice, in the order they take effect (rule 3 reads them with <see cref="Domain.FundingRules"/>).</summary>
    [Alias("notices"), Orleans.Concurrency.AlwaysInterleave] Task<IReadOnlyList<ProviderNotice>> Notices();

    /// <summary>Checks eligibility and budget and issues a voucher. The same claim key returns the same voucher.</summary>
    [Alias("claim")] Task<VoucherView> Claim(ClaimRequest request);
}
