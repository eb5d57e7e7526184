using Marketplace.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Marketplace.Grains;

/// <summary>
/// One voucher (rules 1, 3, 7, 8). Its state is the <c>vouchers</c> row and its holds; every change is written with
/// its ledger postings in one statement that checks the row's version, so the grain's balance and the ledger's are
/// the same by construction, and a stale second activation writes nothing.
/// </summary>
public sealed class VoucherGrain(
    VoucherStore store,
    [FromKeyedServices(Names.ClockKeys.Market)] TimeProvider clock,
    ILogger<VoucherGrain> logger) : Grain, IVoucherGrain
{
    private VoucherRow? _row;
    private Dictionary<string, HoldRow> _holds = [];

    private string Id => this.GetPrimaryKeyString();

    private VoucherFunding Funding => new(GrainFactory, store);

    public override Task OnActivateAsync(CancellationToken cancellationToken) => LoadAsync(cancellationToken);

    private async Task LoadAsync(CancellationToken cancellationToken = default)
    {
        if (await store.LoadAsync(Id, cancellationToken) is { } loaded)
        {
            (_row, _holds) = loaded;
        }
    }

    public async Task<VoucherView?> Get()
    {
        await LoadAsync(); // the market writes the holds of its fills itself: read what is stored
        return await ApplyDueTransitions();
    }

    public Task<VoucherView?> ApplyDueTransitions() => Retrying(async () =>
    {
        if (_row is null)
        {
            return null;
        }
        await ApplyDueAsync();
        return _row.ToView();
    });

    public Task<VoucherView> RegisterActivity(string tenantId, RdActivity activity) => Retrying(async () =>
    {
        var row = Owned(tenantId);
        await ApplyDueAsync();
        row = _row!;
        switch (row.State)
        {
            case VoucherState.Lapsed:
                throw DomainException.Rule("registration-deadline-passed",
                    $"the R&D activity had to be registered by {row.RegistrationDeadline:u}; the voucher lapsed");
            case VoucherState.Active when row.Activity == activity:
                return row.ToView();
            case VoucherState.Claimed:
                break;
            default:
                throw DomainException.Rule("activity-already-registered", $"the voucher is {row.State}; its activity is already registered");
        }
        var now = clock.GetUtcNow();
        var next = row with { State = VoucherState.Active, RegisteredAt = now, ExpiresAt = ChinaTime.ValidUntil(now, row.ValidityDays, row.ValidityMonths), Activity = activity };
        _row = await store.RegisterAsync(row, next);
        Publish();
        return _row.ToView();
    });

    public Task<FundingResult> PreviewFunding(FundingRequest request) => Retrying(async () =>
    {
        await LoadAsync(); // what it can pay depends on the balance as stored, which markets move with their fills
        if (_row is null || _row.TenantId != request.TenantId)
        {
            return FundingResult.Refused("voucher-not-found", "the tenant holds no such voucher");
        }
        await ApplyDueAsync();
        return await Funding.EvaluateAsync(_row, request);
    });

    public Task<FundingResult> HoldFunds(FundingRequest request) => Retrying(async () =>
    {
        if (_row is null || _row.TenantId != request.TenantId)
        {
            return FundingResult.Refused("voucher-not-found", "the tenant holds no such voucher");
        }
        if (_holds.TryGetValue(request.ReservationId, out var existing))
        {
            if (existing.RentalCostFen != request.RentalCostFen)
            {
                throw DomainException.Conflict("hold-conflict",
                    $"reservation {request.ReservationId} already holds funds for a rental of {existing.RentalCostFen} fen");
            }
            return existing.State == HoldState.Released
                ? FundingResult.Refused("hold-released", "the voucher's hold for this reservation was released")
                : FundingResult.Held(existing.AmountFen, _row.ProgramId);
        }
        await ApplyDueAsync();
        var result = await Funding.EvaluateAsync(_row, request);
        if (!result.Accepted)
        {
            return result;
        }

        var row = _row;
        var hold = new HoldRow(request.ReservationId, HoldState.Held, request.RentalCostFen, result.AmountFen, 0, request.ProviderId, row.Stackable);
        try
        {
            _row = await store.HoldAsync(row, row.With(row.Balance().Hold(result.AmountFen)), hold, clock.GetUtcNow());
        }
        catch (Npgsql.PostgresException e) when (e.SqlState == Npgsql.PostgresErrorCodes.UniqueViolation && e.ConstraintName == "voucher_holds_one_funder")
        {
            return FundingResult.Refused("already-funded", "another voucher already pays for this reservation");
        }
        _holds[hold.ReservationId] = hold;
        Publish();
        return result;
    });

    public Task<long> Capture(string reservationId, long amountFen) => Retrying(async () =>
    {
        await KnowHoldAsync(reservationId);
        var row = _row ?? throw DomainException.NotFound("voucher", Id);
        if (!_holds.TryGetValue(reservationId, out var hold))
        {
            throw DomainException.Rule("no-hold", $"the voucher holds nothing for reservation {reservationId}");
        }
        switch (hold.State)
        {
            case HoldState.Captured when hold.CapturedFen == amountFen:
                return hold.CapturedFen;
            case HoldState.Captured:
                throw DomainException.Conflict("capture-conflict", $"reservation {reservationId} was already settled for {hold.CapturedFen} fen");
            case HoldState.Released:
                return 0; // released when its reservation was cancelled or failed: nothing of it is paid from the voucher
        }
        if (amountFen < 0 || amountFen > hold.AmountFen)
        {
            throw DomainException.Rule("capture-above-hold", $"the hold for reservation {reservationId} is {hold.AmountFen} fen");
        }

        var balance = row.Balance().Capture(hold.AmountFen, amountFen);
        var next = row.With(balance) with
        {
            State = balance.Exhausted ? VoucherState.Exhausted : row.State,
            EndedAt = balance.Exhausted ? clock.GetUtcNow() : row.EndedAt,
        };
        _row = await store.CaptureAsync(row, next, hold, amountFen, clock.GetUtcNow());
        _holds[reservationId] = hold with { State = HoldState.Captured, CapturedFen = amountFen };
        Publish();
        return amountFen;
    });

    public Task Trim(string reservationId, long keepFen) => Retrying(async () =>
    {
        await KnowHoldAsync(reservationId);
        if (_row is not { } row || !_holds.TryGetValue(reservationId, out var hold) || hold.State != HoldState.Held || hold.AmountFen <= keepFen)
        {
            return true;
        }
        var released = VoucherBalance.Trimmed(hold.AmountFen, keepFen);
        var trimmed = hold with { AmountFen = hold.AmountFen - released };
        _row = await store.TrimAsync(row, row.With(row.Balance().Release(released)), hold, trimmed.AmountFen, clock.GetUtcNow());
        _holds[reservationId] = trimmed;
        Publish();
        return true;
    });

    public Task Release(string reservationId) => Retrying(async () =>
    {
        await KnowHoldAsync(reservationId);
        if (_row is not { } row || !_holds.TryGetValue(reservationId, out var hold) || hold.State != HoldState.Held)
        {
            return true;
        }
        _row = await store.ReleaseAsync(row, row.With(row.Balance().Release(hold.AmountFen)), hold, clock.GetUtcNow());
        _holds[reservationId] = hold with { State = HoldState.Released };
        Publish();
        return true;
    });

    public Task<FundingTerms> FundingTerms(string tenantId) => Retrying(async () =>
    {
        if (_row is null)
        {
            await LoadAsync(); // issued by the program since this activation looked
        }
        if (_row is null || _row.TenantId != tenantId)
        {
            return Marketplace.FundingTerms.Refused(Id, "voucher-not-found", "the tenant holds no such voucher");
        }
        await ApplyDueAsync();
        return await Funding.TermsAsync(_row!);
    });

    /// <summary>Rule 1's clock: Claimed lapses after the registration deadline, Active expires after its validity.</summary>
    private async Task ApplyDueAsync()
    {
        var row = _row!;
        var now = clock.GetUtcNow();
        VoucherState? end = row.State switch
        {
            VoucherState.Claimed when now > row.RegistrationDeadline => VoucherState.Lapsed,
            VoucherState.Active when now >= row.ExpiresAt => VoucherState.Expired,
            _ => null,
        };
        if (end is null)
        {
            return;
        }
        var returned = row.AvailableFen; // only the value no hold keeps: see VoucherBalance.End
        var next = row.With(row.Balance().End()) with { State = end.Value, EndedAt = now };
        _row = await store.EndAsync(row, next, now);
        logger.LogInformation("Voucher {VoucherId} {State}: {Returned} fen returned to program {ProgramId}", Id, end, returned, row.ProgramId);
        Publish();
    }

    private VoucherRow Owned(string tenantId) =>
        _row is { } row && row.TenantId == tenantId ? row : throw DomainException.NotFound("voucher", Id);

    private void Publish()
    {
        var view = _row!.ToView();
        GrainFactory.Publish(new MarketUpdate(UpdateKind.Voucher, view.TenantId, view.Id, view.Version, clock.GetUtcNow(), Voucher: view));
    }

    /// <summary>Reads the voucher again when it does not know the hold: a market wrote it with a fill.</summary>
    private async Task KnowHoldAsync(string reservationId)
    {
        if (!_holds.ContainsKey(reservationId))
        {
            await LoadAsync();
        }
    }

    /// <summary>
    /// Runs an operation; if another activation moved the voucher on meanwhile, reloads and runs it once more on the
    /// fresh state (every operation is idempotent, so a repeat of one that already committed is answered, not redone).
    /// </summary>
    private async Task<T> Retrying<T>(Func<Task<T>> operation)
    {
        try
        {
            return await operation();
        }
        catch (StaleStateException e)
        {
            logger.LogWarning(e, "Voucher {VoucherId} was changed elsewhere; reloading", Id);
            await LoadAsync();
            return await operation();
        }
    }
}
