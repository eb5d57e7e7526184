using Marketplace.Domain.Rules;
using Marketplace.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Marketplace.Grains;

/// <summary>
/// A company's prepaid cash (rule 8): top-ups and withdrawals, each one ledger transaction written with the company's
/// <c>tenant_cash</c> row. Holds, captures and releases are written by the market's fills and the reservations.
/// </summary>
public sealed class CashGrain(CashStore store, IOptions<MarketLimits> limits, [FromKeyedServices(Names.ClockKeys.Market)] TimeProvider clock)
    : Grain, ICashGrain
{
    /// <summary>The most movements a balance shows.</summary>
    public const int MaxMovements = 200;

    private string TenantId => this.GetPrimaryKeyString();

    public async Task<CashPayment> TopUp(long amountFen, string paymentReference)
    {
        Validate(amountFen, paymentReference, "paymentReference");
        if (await GrainFactory.GetGrain<ITenantGrain>(TenantId).Get() is null)
        {
            throw DomainException.NotFound("tenant", TenantId);
        }
        var id = CashStore.TopUpId(paymentReference);
        if (!await store.TopUpAsync(TenantId, amountFen, paymentReference, clock.GetUtcNow()))
        {
            return await RepeatAsync(id, amountFen, "payment-reference-used",
                $"payment reference {paymentReference} was already paid in with another amount or for another company");
        }
        return (await store.FindPaymentAsync(id))!;
    }

    public async Task<CashPayment> Withdraw(long amountFen, string key)
    {
        Validate(amountFen, key, "key");
        var id = CashStore.WithdrawalId(TenantId, key);
        if (!await store.WithdrawAsync(TenantId, amountFen, key, clock.GetUtcNow()))
        {
            if (await store.FindPaymentAsync(id) is null)
            {
                throw DomainException.Rule(CashRules.InsufficientCash, "the company has less cash available than that (what is held for reservations cannot be withdrawn)",
                    "amountFen");
            }
            return await RepeatAsync(id, amountFen, "idempotency-key-reused", "this withdrawal was already made with another amount");
        }
        return (await store.FindPaymentAsync(id))!;
    }

    /// <summary>The same payment again returns the first; the same reference for a different one is a conflict.</summary>
    private async Task<CashPayment> RepeatAsync(string id, long amountFen, string code, string message)
    {
        var first = await store.FindPaymentAsync(id);
        return first is not null && first.TenantId == TenantId && first.AmountFen == amountFen ? first : throw DomainException.Conflict(code, message);
    }

    /// <summary>The checks the web tier makes too (<see cref="CashRules"/>), guarded here for every other caller.</summary>
    private void Validate(long amountFen, string reference, string referenceField)
    {
        if (CashRules.Validate(amountFen, reference, referenceField, limits.Value).First is var (field, message))
        {
            throw DomainException.Rule("invalid-payment", $"{field} {message}", field);
        }
    }

    public Task<CashBalance> Get(int movements) => store.ReadAsync(TenantId, Math.Clamp(movements, 0, MaxMovements), limits.Value.MaxUnsettledFenPerTenant);
}
