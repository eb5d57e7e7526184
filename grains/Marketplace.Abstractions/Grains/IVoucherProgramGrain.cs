namespace Marketplace.Grains;

/// <summary>One voucher program (key: program id such as <c>bj-2026-b1</c>).</summary>
[Alias("voucher-program")]
public interface IVoucherProgramGrain : IGrainWithStringKey
{
    /// <summary>Creates the program; the same definition again is a no-op, another one is a conflict.</summary>
    [Alias("create")] Task<ProgramView> Create(ProgramDefinition definition);

    [Alias("get")] Task<ProgramView?> Get();

    /// <summary>Records a notice that approves or removes a company (by credit code) from its effective date.</summary>
    [Alias("notice")] Task<ProgramView> PublishProviderNotice(ProviderNotice notice);

    /// <summary>Whether the company with this credit code is approved on the date (rule 3).</summary>
    [Alias("is-approved"), Orleans.Concurrency.AlwaysInterleave] Task<bool> IsCompanyApproved(string creditCode, DateTimeOffset on);

    /// <summary>Every approval notice, in the order they take effect (rule 3 reads them with <see cref="Domain.FundingRules"/>).</summary>
    [Alias("notices"), Orleans.Concurrency.AlwaysInterleave] Task<IReadOnlyList<ProviderNotice>> Notices();

    /// <summary>Raises the budget of an open program, funded like its first budget (a 'fund' posting).</summary>
    [Alias("raise-budget")] Task<ProgramView> RaiseBudget(long amountFen, string reason);

    /// <summary>Closes claims now; vouchers already issued keep their terms. Closing a closed program is a conflict.</summary>
    [Alias("close")] Task<ProgramView> Close(string reason);

    /// <summary>Checks eligibility and budget and issues a voucher. The same claim key returns the same voucher.</summary>
    [Alias("claim")] Task<VoucherView> Claim(ClaimRequest request);
}
