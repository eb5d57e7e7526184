namespace Marketplace;

/// <summary>
/// A company's prepaid cash (rule 8): what it can spend and what is held for its reservations, with its latest movements
/// as the ledger records them. <see cref="UnsettledFen"/> is the cost of its reservations not yet settled, cancelled or
/// interrupted, which may not pass <see cref="MaxUnsettledFen"/>.
/// </summary>
[GenerateSerializer, Immutable, Alias("cash-balance")]
public sealed record CashBalance(
    [Id(0)] string TenantId,
    [Id(1)] long AvailableFen,
    [Id(2)] long HeldFen,
    [Id(3)] IReadOnlyList<CashMovement> Movements,
    [Id(4)] long UnsettledFen,
    [Id(5)] long MaxUnsettledFen);

/// <summary>
/// One ledger transaction on a company's cash, newest first in a <see cref="CashBalance"/>: how it changed what is available
/// and what is held (either may be negative).
/// </summary>
[GenerateSerializer, Immutable, Alias("cash-movement")]
public sealed record CashMovement(
    [Id(0)] string TransactionId,
    [Id(1)] string Kind,
    [Id(2)] string Description,
    [Id(3)] long AvailableChangeFen,
    [Id(4)] long HeldChangeFen,
    [Id(5)] string? ReservationId,
    [Id(6)] DateTimeOffset PostedAt);

/// <summary>Money paid in (a top-up, by its payment reference) or out (a withdrawal, by its idempotency key).</summary>
[GenerateSerializer, Immutable, Alias("cash-payment")]
public sealed record CashPayment(
    [Id(0)] string TenantId,
    [Id(1)] string Kind,
    [Id(2)] string Reference,
    [Id(3)] long AmountFen,
    [Id(4)] DateTimeOffset PostedAt);
