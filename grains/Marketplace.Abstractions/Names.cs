namespace Marketplace;

/// <summary>Every name that more than one part of the system must agree on.</summary>
public static class Names
{
    public static class Storage
    {
        /// <summary>Orleans ADO.NET grain storage for grain-private state (pools, tenants, providers).</summary>
        public const string Grains = "marketplace";
    }

    public static class Reminders
    {
        public const string Sweep = "sweep";
    }

    public static class Roles
    {
        public const string Sme = "sme";
        public const string Provider = "provider";
        public const string Regulator = "regulator";
        public const string Admin = "admin";
        public static readonly IReadOnlyList<string> All = [Sme, Provider, Regulator, Admin];
    }

    public static class Claims
    {
        public const string Role = "role";
        public const string TenantId = "tenant_id";
        public const string ProviderId = "provider_id";
        public const string Subject = "sub";
    }

    public static class Auth
    {
        /// <summary>The scope a client asks for to call the API (dashboards, API clients, the load tool).</summary>
        public const string ApiScope = "marketplace";
    }

    public static class Policies
    {
        public const string Sme = "sme";
        public const string Provider = "provider";
        public const string Oversight = "oversight";
        public const string Admin = "admin";
    }

    public static class Hub
    {
        public const string Path = "/hubs/market";
        public const string BidUpdated = nameof(BidUpdated);
        public const string ReservationUpdated = nameof(ReservationUpdated);
        public const string VoucherUpdated = nameof(VoucherUpdated);
        public const string PoolUpdated = nameof(PoolUpdated);
        public const string UtilizationUpdated = nameof(UtilizationUpdated);
        public const string TakeUpUpdated = nameof(TakeUpUpdated);
        public const string FillTicker = nameof(FillTicker);

        public static string TenantGroup(string tenantId) => $"tenant:{tenantId}";
        public static string ProviderGroup(string providerId) => $"provider:{providerId}";
        public const string RegulatorGroup = "regulators";
    }

    public static class Headers
    {
        public const string IdempotencyKey = "Idempotency-Key";
    }

    public static class ClockKeys
    {
        /// <summary>
        /// DI key of the <see cref="TimeProvider"/> the market's own rules read. Orleans keeps its own clock for
        /// messaging and membership, so tests can move market time by days without expiring Orleans messages.
        /// </summary>
        public const string Market = "market";
    }
}
