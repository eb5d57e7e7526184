namespace Marketplace.Grains;

/// <summary>A company's prepaid cash (rule 8), keyed by tenant id. Fills hold it in the market's own write.</summary>
[Alias("cash")]
public interface ICashGrain : IGrainWithStringKey
{
    /// <summary>Money received for the company; the payment reference is unique: a repeat returns the first top-up.</summary>
    [Alias("top-up")] Task<CashPayment> TopUp(long amountFen, string paymentReference);

    /// <summary>Pays out what is not held; the key makes a repeat return the first withdrawal.</summary>
    [Alias("withdraw")] Task<CashPayment> Withdraw(long amountFen, string key);

    [Alias("get")] Task<CashBalance> Get(int movements);
}
