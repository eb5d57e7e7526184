using Marketplace.Domain.Rules;
using Marketplace.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Marketplace.Grains;

/// <summary>
/// A voucher program: its terms, the companies it approves by notice batch, and claims (rules 1 and 2). The budget is
/// enforced by the claim's transaction, not by this activation, so even two activations cannot overspend it.
/// </summary>
public sealed class VoucherProgramGrain(
    ProgramStore programs,
    VoucherStore vouchers,
    IOptions<MarketLimits> limits,
    [FromKeyedServices(Names.ClockKeys.Market)] TimeProvider clock,
    ILogger<VoucherProgramGrain> logger) : Grain, IVoucherProgramGrain
{
    private ProgramRow? _row;
    private IReadOnlyList<ProviderNotice> _notices = [];

    private string Id => this.GetPrimaryKeyString();

    public override async Task OnActivateAsync(CancellationToken cancellationToken) => await LoadAsync(cancellationToken);

    private async Task LoadAsync(CancellationToken cancellationToken = default)
    {
        _row = await programs.LoadAsync(Id, cancellationToken);
        if (_row is not null)
        {
            await ResolveOlderNoticesAsync(cancellationToken);
        }
        _notices = _row is null ? [] : await programs.NoticesAsync(Id, cancellationToken);
    }

    /// <summary>
    /// Notices published by provider id before notices named companies: each takes the credit code its provider registered.
    /// A provider that never registered names no company, and its notice approves nobody.
    /// </summary>
    private async Task ResolveOlderNoticesAsync(CancellationToken cancellationToken)
    {
        foreach (var providerId in await programs.UnresolvedNoticeProvidersAsync(Id, cancellationToken))
        {
            if (await GrainFactory.GetGrain<IProviderGrain>(providerId).Get() is { } provider)
            {
                await programs.ResolveNoticesAsync(Id, providerId, provider.Registration.CreditCode, cancellationToken);
            }
        }
    }

    public async Task<ProgramView> Create(ProgramDefinition definition)
    {
        ProgramRules.Validate(definition, limits.Value);
        var hash = Ids.ContentHash(StateJson.Serialize(definition));
        if (_row is null)
        {
            // False when another request created it first; either way the stored terms decide below.
            await programs.CreateAsync(Id, definition, hash, clock.GetUtcNow());
            await LoadAsync();
        }
        if (_row!.DefinitionHash != hash)
        {
            throw DomainException.Conflict("program-exists", $"program '{Id}' already exists with other terms");
        }
        return await ViewAsync();
    }

    public async Task<ProgramView?> Get() => _row is null ? null : await ViewAsync();

    public async Task<ProgramView> PublishProviderNotice(ProviderNotice notice)
    {
        Existing();
        var stored = await programs.AddNoticeAsync(Id, notice, clock.GetUtcNow());
        if (stored is not null && !stored.SameTermsAs(notice))
        {
            throw DomainException.Conflict("notice-exists",
                $"batch '{notice.BatchId}' already has a notice for company {notice.CreditCode} with other terms");
        }
        _notices = await programs.NoticesAsync(Id);
        // Resting bids the notice makes payable are matched before the notice is answered.
        await GrainFactory.TellEveryMarketAsync(market => market.ApprovalsChanged(Id), logger, $"program {Id}'s notice");
        return await ViewAsync();
    }

    public async Task<ProgramView> RaiseBudget(long amountFen, string reason)
    {
        var row = Existing();
        Open(row);
        if (ProgramTermsRules.ValidateRaise(amountFen, reason, row.BudgetFen, limits.Value).First is var (field, message))
        {
            throw DomainException.Rule("invalid-budget-raise", $"{field} {message}", field);
        }
        if (!await programs.RaiseBudgetAsync(Id, Guid.CreateVersion7().ToString("N"), amountFen, limits.Value.MaxProgramFen, reason, clock.GetUtcNow()))
        {
            // Another activation closed or raised it meanwhile: the stored row decides.
            await LoadAsync();
            Open(Existing());
            throw DomainException.Rule("invalid-budget-raise", $"amountFen must keep the budget within {limits.Value.MaxProgramFen} fen", "amountFen");
        }
        await LoadAsync();
        return await ViewAsync();
    }

    public async Task<ProgramView> Close(string reason)
    {
        Open(Existing());
        if (ProgramTermsRules.ValidateClose(reason).First is var (field, message))
        {
            throw DomainException.Rule("invalid-close", $"{field} {message}", field);
        }
        await programs.CloseAsync(Id, clock.GetUtcNow(), reason);
        await LoadAsync();
        return await ViewAsync();
    }

    private static void Open(ProgramRow row)
    {
        if (row.ClosedAt is { } closed)
        {
            throw DomainException.Conflict("program-closed", $"program '{row.Id}' was closed on {closed:u}: {row.CloseReason}");
        }
    }

    /// <summary>Rule 3: the latest notice for the company that is in effect on the date decides.</summary>
    public Task<bool> IsCompanyApproved(string creditCode, DateTimeOffset on) =>
        Task.FromResult(FundingRules.IsApproved(ProviderNotice.Steps(_notices), creditCode, on));

    public Task<IReadOnlyList<ProviderNotice>> Notices() => Task.FromResult(_notices);

    public async Task<VoucherView> Claim(ClaimRequest request)
    {
        var program = Existing();
        var definition = program.Definition;
        var voucherId = Ids.Voucher(Id, request.TenantId, request.ClaimKey);
        if (await vouchers.LoadAsync(voucherId) is { } existing)
        {
            return existing.Voucher.ToView();
        }

        var tenant = await GrainFactory.GetGrain<ITenantGrain>(request.TenantId).Get()
            ?? throw DomainException.Rule("tenant-not-registered", "register the tenant before claiming a voucher");
        CompanyVerification.Require(tenant.Status, $"tenant '{request.TenantId}'", "claim a voucher");
        var now = clock.GetUtcNow();
        ProgramRules.CheckEligibility(definition, tenant.Registration, now, program.ClosedAt);

        var wanted = request.AmountFen ?? definition.VoucherCapFen;
        if (wanted <= 0)
        {
            throw DomainException.Rule("invalid-amount", "the amount asked for must be positive", "amountFen");
        }
        if (wanted > definition.VoucherCapFen)
        {
            throw DomainException.Rule("amount-above-cap",
                $"a voucher of this program is worth at most {definition.VoucherCapFen} fen", "amountFen");
        }

        var claim = new ClaimRow(voucherId, Id, request.TenantId, tenant.Registration.Kind, tenant.Registration.Province, request.ClaimKey,
            wanted, definition.CoverageBasisPoints, definition.ValidityDays, definition.ValidityMonths, definition.Stackable, !definition.AllowMultipleOpenVouchers,
            now, ChinaTime.DeadlineAfterDays(now, definition.RegistrationDeadlineDays),
            // The company the voucher is issued to, and the related parties it declares now: frozen into the voucher.
            tenant.Registration.CreditCode, tenant.Registration.RelatedPartyCreditCodes);
        var (status, _) = await programs.ClaimAsync(claim);
        switch (status)
        {
            case ClaimStatus.BudgetExhausted:
                throw DomainException.Rule("budget-exhausted", $"program '{Id}' has no budget left");
            case ClaimStatus.OpenVoucherExists:
                throw DomainException.Rule("open-voucher-exists", $"the company (its credit code, under any tenant id) already holds an open voucher of program '{Id}'");
        }
        var issued = (await vouchers.LoadAsync(voucherId))!.Value.Voucher.ToView();
        GrainFactory.Publish(new MarketUpdate(UpdateKind.Voucher, issued.TenantId, issued.Id, issued.Version, now, Voucher: issued));
        return issued;
    }

    private ProgramRow Existing() => _row ?? throw DomainException.NotFound("program", Id);

    private async Task<ProgramView> ViewAsync()
    {
        var row = Existing();
        return new ProgramView(Id, row.Definition, await programs.TotalsAsync(Id), _notices, row.CreatedAt, row.BudgetFen, row.ClosedAt, row.CloseReason);
    }
}

public static class ProgramRules
{
    /// <summary>The terms the web tier checks too (<see cref="ProgramTermsRules"/>), guarded here for every other caller.</summary>
    public static void Validate(ProgramDefinition d, MarketLimits limits)
    {
        if (ProgramTermsRules.Validate(Terms(d), limits).First is var (field, message))
        {
            throw DomainException.Rule("invalid-program", $"{field} {message}", field);
        }
    }

    public static ProgramTerms Terms(ProgramDefinition d) => new(d.Name, d.Issuer, d.Province, d.ClaimOpensAt, d.ClaimClosesAt, d.BudgetFen,
        d.VoucherCapFen, d.CoverageBasisPoints, d.AllowedTenantKinds.Count, d.RegistrationDeadlineDays, d.ValidityDays, d.ValidityMonths, d.Assumptions);

    /// <summary>Rule 2: tenant kind, province and claim window (ended early when the office closed it) must match the program.</summary>
    public static void CheckEligibility(ProgramDefinition d, TenantRegistration tenant, DateTimeOffset now, DateTimeOffset? closedAt)
    {
        if (!d.AllowedTenantKinds.Contains(tenant.Kind))
        {
            throw DomainException.Rule("tenant-kind-not-eligible", $"the program is not open to {tenant.Kind} tenants");
        }
        if (tenant.Province != d.Province)
        {
            throw DomainException.Rule("province-not-eligible", $"the program is open to tenants registered in {d.Province}");
        }
        if (now < d.ClaimOpensAt)
        {
            throw DomainException.Rule("claim-window-not-open", $"claims open at {d.ClaimOpensAt:u}");
        }
        if (closedAt is { } closed && now >= closed)
        {
            throw DomainException.Rule("program-closed", $"the program office closed claims at {closed:u}");
        }
        if (now >= d.ClaimClosesAt)
        {
            throw DomainException.Rule("claim-window-closed", $"claims closed at {d.ClaimClosesAt:u}");
        }
    }
}
