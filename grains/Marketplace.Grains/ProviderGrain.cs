using Marketplace.Domain.Rules;
using Marketplace.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Marketplace.Grains;

/// <summary>A provider's own record and the entry point for its changes; routes pool changes to their market.</summary>
public sealed class ProviderGrain(
    [PersistentState("provider", Names.Storage.Grains)] IPersistentState<ProviderState> state,
    CompanyStore companies,
    NpgsqlDataSource db,
    IOptions<MarketLimits> limits,
    [FromKeyedServices(Names.ClockKeys.Market)] TimeProvider clock) : Grain, IProviderGrain
{
    private string Id => this.GetPrimaryKeyString();

    /// <summary>
    /// A registration made before companies were verified has no status and is not in the programme office's queue: it
    /// joins the queue as pending when it is next activated (any read or action does), and holds its credit code unless
    /// another provider holds it, which the regulator is shown as a change to review.
    /// </summary>
    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (state.State.Registration is not { } registration)
        {
            return;
        }
        if (state.State.Status is null)
        {
            await JoinQueueAsync(registration, cancellationToken);
        }
        await CatchUpPoolsAsync();
    }

    /// <summary>
    /// What was told to the pools last may have been cut short, and the record may have moved on since (the window moves
    /// with time): each pool is brought to both with one call, and its market told only what differs.
    /// </summary>
    private async Task CatchUpPoolsAsync()
    {
        if (state.State.Pools.Count > 0)
        {
            await PoolMarkets.CatchUpAsync(SuspendedBecause, await ReliabilityScoreAsync());
        }
    }

    /// <summary>
    /// Reads the provider's record of delivery over the reliability window and tells each of its pools' markets the score
    /// (<see cref="Reliability"/>), so a market filters pools by it without reading the database per bid. Telling a pool
    /// the score it has already is a no-op, so this is safe to repeat.
    /// </summary>
    private async Task TellReliabilityAsync(string? onlyPoolId = null)
    {
        if (state.State.Pools.Count > 0)
        {
            await PoolMarkets.TellReliabilityAsync(await ReliabilityScoreAsync(), onlyPoolId);
        }
    }

    private async Task<int?> ReliabilityScoreAsync()
    {
        var from = Reliability.WindowStartHour(Hours.Floor(clock.GetUtcNow()), limits.Value);
        var delivery = await ProviderDelivery.ReadAsync(db, Id, from);
        return Reliability.Score(delivery.Record, limits.Value);
    }

    public Task RecordChanged() => TellReliabilityAsync();

    private async Task JoinQueueAsync(ProviderRegistration registration, CancellationToken cancellationToken)
    {
        var holder = await companies.HoldAsync(CompanyParty.Provider, Id, registration.CreditCode, clock.GetUtcNow(), cancellationToken);
        state.State.Status = holder is null
            ? CompanyReview.Unreviewed
            : CompanyReview.Unreviewed with { Changes = [new CompanyChange("creditCode", registration.CreditCode, $"also registered by provider {holder}")] };
        await state.WriteStateAsync(cancellationToken);
        await SaveForReviewAsync();
    }

    public async Task<ProviderView> Register(ProviderRegistration registration)
    {
        if (CreditCode.Validate(registration.CreditCode) is { } problem)
        {
            throw DomainException.Rule("invalid-credit-code", $"creditCode {problem}", "creditCode");
        }
        if (SiteRules.RepeatedSite(registration.Sites.Select(s => s.SiteId)) is { } repeated)
        {
            throw DomainException.Rule("duplicate-site", $"site '{repeated}' is listed twice", "sites");
        }
        var installed = (registration.Installed ?? []).Select(i => (i.SiteId, i.GpuModel, i.Count)).ToList();
        if (SiteRules.InstalledProblem(registration.Sites.Select(s => s.SiteId).ToHashSet(), installed) is var (index, wrong))
        {
            throw DomainException.Rule("invalid-installed-gpus", $"installedGpus[{index}] {wrong}", "installedGpus");
        }
        if (state.State.Registration is { } existing)
        {
            var removed = existing.Sites.Select(s => s.SiteId).Except(registration.Sites.Select(s => s.SiteId)).ToList();
            if (removed.Count > 0 && state.State.Pools.Count > 0)
            {
                throw DomainException.Rule("site-in-use", $"site '{removed[0]}' cannot be removed while the provider lists pools", "sites");
            }
            foreach (var listed in (await GetPools()).GroupBy(p => (p.Site.SiteId, p.GpuModel)))
            {
                var declared = registration.InstalledAt(listed.Key.SiteId, listed.Key.GpuModel);
                if (SiteRules.DeclaredBelowListed(listed.Key.SiteId, listed.Key.GpuModel, declared, listed.Sum(p => p.GpuCount)) is { } below)
                {
                    throw DomainException.Rule("site-capacity-below-pools", below, "installedGpus");
                }
            }
        }
        else
        {
            state.State.RegisteredAt = clock.GetUtcNow();
        }
        if (await companies.HoldAsync(CompanyParty.Provider, Id, registration.CreditCode, clock.GetUtcNow()) is not null)
        {
            throw DomainException.Conflict("credit-code-taken",
                $"credit code {registration.CreditCode} is already registered by another provider: a company registers once");
        }
        state.State.Status = CompanyReview.AfterRegistration(state.State.Status, CompanyReview.Changes(state.State.Verified, registration));
        if (state.State.Status.IsVerified)
        {
            state.State.Verified = registration;
        }
        state.State.Registration = registration;
        await state.WriteStateAsync();
        await SaveForReviewAsync();
        await TellPoolsAsync();
        return View()!;
    }

    public async Task<ProviderView> Review(CompanyDecision decision)
    {
        CompanyReview.Apply(state.State, decision, clock.GetUtcNow());
        await state.WriteStateAsync();
        await SaveForReviewAsync();
        await TellPoolsAsync();
        return View()!;
    }

    /// <summary>
    /// A provider's pools sell only while its company is verified. Pending review (a first registration, one made before
    /// companies were verified, one whose credit code another provider holds, a change after verification) or rejected,
    /// its pools sell nothing new, so neither a voucher nor cash pays a company nobody has verified; the reservations they
    /// have are kept. Telling a pool what it is already is a no-op, so this is safe to repeat.
    /// </summary>
    private Task TellPoolsAsync() => PoolMarkets.SuspendAsync(SuspendedBecause);

    /// <summary>Why the provider's pools sell nothing new, or null while its company is verified.</summary>
    private string? SuspendedBecause => state.State.Status?.IsVerified == true ? null : CompanyVerification.NotVerified;

    private ProviderPools PoolMarkets => new(GrainFactory, state.State.Pools);

    private Task SaveForReviewAsync()
    {
        var registration = state.State.Registration!;
        return companies.SaveAsync(new CompanyRow(CompanyParty.Provider, Id, registration.Name, registration.CreditCode,
            state.State.Status!, StateJson.Serialize(registration), clock.GetUtcNow()));
    }

    public Task<ProviderView?> Get() => Task.FromResult(View());

    public async Task<PoolView> ListPool(PoolListing listing)
    {
        var registration = Registered();
        CompanyVerification.Require(state.State.Status, $"provider '{Id}'", "list a pool");
        var site = registration.Sites.FirstOrDefault(s => s.SiteId == listing.SiteId)
            ?? throw DomainException.Rule("unknown-site", $"the provider has no site '{listing.SiteId}'", "siteId");
        if (!GpuModels.IsKnown(listing.GpuModel))
        {
            throw DomainException.Rule("unknown-gpu-model", $"'{listing.GpuModel}' is not a GPU model the market trades", "gpuModel");
        }
        await CheckSiteCapacity(registration, listing.SiteId, listing.GpuModel, listing.PoolId, listing.GpuCount);
        var spec = new PoolSpec(listing.PoolId, Id, registration.CreditCode, site, listing.GpuModel, listing.GpuCount, listing.AskFenPerGpuHour,
            registration.Name);
        var view = await GrainFactory.GetGrain<IMarketGrain>(listing.GpuModel).ListPool(spec);
        if (state.State.Pools.TryAdd(listing.PoolId, listing.GpuModel))
        {
            await state.WriteStateAsync();
        }
        await TellReliabilityAsync(listing.PoolId);
        return view;
    }

    public async Task<PoolView> ChangePool(string poolId, PoolChange change)
    {
        var model = ModelOf(poolId);
        if (change.GpuCount is { } gpus && await GrainFactory.GetGrain<IGpuPoolGrain>(poolId).Get() is { } pool)
        {
            await CheckSiteCapacity(Registered(), pool.Site.SiteId, model, poolId, gpus);
        }
        return await GrainFactory.GetGrain<IMarketGrain>(model).ChangePool(poolId, change);
    }

    /// <summary>
    /// The pools listed at a site never add up to more GPUs of a model than the site has installed. This grain is the only
    /// way to list or resize a provider's pools, and it takes one call at a time, so the sum it checks cannot move meanwhile.
    /// </summary>
    private async Task CheckSiteCapacity(ProviderRegistration registration, string siteId, string gpuModel, string poolId, int gpus)
    {
        var others = (await GetPools()).Where(p => p.Id != poolId && p.Site.SiteId == siteId && p.GpuModel == gpuModel).Sum(p => p.GpuCount);
        if (SiteRules.ListingProblem(siteId, gpuModel, registration.InstalledAt(siteId, gpuModel), others, gpus) is { } problem)
        {
            throw DomainException.Rule("site-capacity-exceeded", problem, "gpuCount");
        }
    }

    public async Task<OutageReport> DeclareOutage(OutageRequest request)
    {
        var registration = Registered();
        List<string> poolIds;
        if (request.PoolId is not null)
        {
            ModelOf(request.PoolId);
            poolIds = [request.PoolId];
        }
        else
        {
            if (registration.Sites.All(s => s.SiteId != request.SiteId))
            {
                throw DomainException.Rule("unknown-site", $"the provider has no site '{request.SiteId}'", "siteId");
            }
            var pools = await Task.WhenAll(state.State.Pools.Keys.Select(id => GrainFactory.GetGrain<IGpuPoolGrain>(id).Get()));
            poolIds = pools.Where(p => p is not null && p.Site.SiteId == request.SiteId).Select(p => p!.Id).Order(StringComparer.Ordinal).ToList();
        }

        var interrupted = new List<string>();
        var rematched = new List<string>();
        foreach (var poolId in poolIds)
        {
            var report = await GrainFactory.GetGrain<IMarketGrain>(state.State.Pools[poolId]).DeclareOutage(poolId, request.Outage);
            interrupted.AddRange(report.InterruptedReservationIds);
            rematched.AddRange(report.RematchedReservationIds);
        }
        await TellReliabilityAsync(); // what the outage took counts against the provider from now on
        return new OutageReport(request.Outage.OutageId, poolIds, interrupted, rematched);
    }

    public async Task<OutageEnded> EndOutage(string outageId)
    {
        Registered();
        var now = clock.GetUtcNow();
        var poolIds = new List<string>();
        DateTimeOffset? endsAt = null;
        foreach (var (poolId, model) in state.State.Pools.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            if (await GrainFactory.GetGrain<IGpuPoolGrain>(poolId).EndOutage(outageId, now) is { } ended)
            {
                poolIds.Add(poolId);
                endsAt = ended.To;
                await GrainFactory.GetGrain<IMarketGrain>(model).CapacityChanged(poolId);
            }
        }
        return endsAt is { } to ? new OutageEnded(outageId, poolIds, to) : throw DomainException.NotFound("outage", outageId);
    }

    public async Task<IReadOnlyList<PoolView>> GetPools()
    {
        var pools = await Task.WhenAll(state.State.Pools.Keys.Select(id => GrainFactory.GetGrain<IGpuPoolGrain>(id).Get()));
        return pools.Where(p => p is not null).Select(p => p!).OrderBy(p => p.Id, StringComparer.Ordinal).ToList();
    }

    private ProviderRegistration Registered() =>
        state.State.Registration ?? throw DomainException.Rule("provider-not-registered", "register the provider first");

    private string ModelOf(string poolId) =>
        state.State.Pools.TryGetValue(poolId, out var model) ? model : throw DomainException.NotFound("pool", poolId);

    private ProviderView? View() => state.State.Registration is { } registration
        ? new ProviderView(Id, registration, state.State.Pools.Keys.Order(StringComparer.Ordinal).ToList(), state.State.RegisteredAt, state.State.Status)
        : null;
}
