using Marketplace.Storage;

namespace Marketplace.Grains;

/// <summary>
/// The saga that finishes a reservation written before fills were the market's: hold capacity → hold voucher funds →
/// confirm, every step compensated when a later one refuses. Each step and each compensation is idempotent by
/// reservation id and the saga records no step of its own: one cut short by a crash is run again from the start and ends
/// confirmed or fully compensated, never half. It answers the record the reservation ends in; its grain saves it.
/// </summary>
internal sealed class ReservationSaga(IGrainFactory grains, SagaFaults faults, TimeSpan holdTtl)
{
    public async Task<ReservationRecord> RunAsync(string id, ReservationRecord r)
    {
        var plan = r.Plan;
        var pool = grains.GetGrain<IGpuPoolGrain>(plan.PoolId);
        // Without a voucher no step stands between holding and confirming: the pool does both in one write.
        var hold = await pool.Hold(new HoldRequest(id, plan.StartHour, plan.Hours, plan.Gpus, plan.FenPerGpuHour, holdTtl,
            ConfirmAtOnce: plan.VoucherId is null));
        if (!hold.Accepted)
        {
            // A saga resumed after a crash may have held funds before its capacity hold lapsed: undo every step.
            await ReleaseFundsAsync(grains, id, r);
            return Failed(r, hold.RefusalCode!, hold.Reason!, capacityRefused: true);
        }
        faults.After(SagaFaults.HoldCapacity, id);

        FundingResult funding = FundingResult.Held(0, string.Empty);
        if (plan.VoucherId is { } voucherId)
        {
            try
            {
                funding = await grains.GetGrain<IVoucherGrain>(voucherId).HoldFunds(
                    new FundingRequest(id, plan.TenantId, plan.ProviderId, plan.ProviderCreditCode, plan.StartsAt, plan.EndsAt, plan.CostFen));
            }
            catch (DomainException e) when (e.Kind is ErrorKind.Rule or ErrorKind.Conflict or ErrorKind.NotFound)
            {
                funding = FundingResult.Refused(e.Code, e.Message);
            }
            if (!funding.Accepted)
            {
                await pool.Release(id, null);
                return Failed(r, funding.RefusalCode!, funding.RefusalReason!, capacityRefused: false);
            }
            faults.After(SagaFaults.HoldFunds, id);
        }

        var confirmed = plan.VoucherId is null ? HoldOutcome.Ok : await pool.Confirm(id);
        if (!confirmed.Accepted)
        {
            await ReleaseFundsAsync(grains, id, r);
            await pool.Release(id, null);
            return Failed(r, confirmed.RefusalCode!, confirmed.Reason!, capacityRefused: true);
        }
        faults.After(SagaFaults.Confirm, id);
        return r with
        {
            State = ReservationState.Confirmed,
            VoucherFen = funding.AmountFen,
            CashFen = plan.CostFen - funding.AmountFen,
            VoucherProgramId = plan.VoucherId is null ? null : funding.ProgramId,
        };
    }

    /// <summary>Gives back what the reservation's voucher holds for it (nothing without a voucher, or on a repeat).</summary>
    public static async Task ReleaseFundsAsync(IGrainFactory grains, string id, ReservationRecord r)
    {
        if (r.Plan.VoucherId is { } voucherId)
        {
            await grains.GetGrain<IVoucherGrain>(voucherId).Release(id);
        }
    }

    private static ReservationRecord Failed(ReservationRecord r, string code, string reason, bool capacityRefused) => r with
    {
        State = ReservationState.Failed,
        ReasonCode = code,
        Reason = reason,
        CapacityRefused = capacityRefused,
        ReleasedFromHour = r.Plan.StartHour,
        VoucherFen = 0,
        CashFen = 0,
    };
}
