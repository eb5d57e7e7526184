using System.Security.Cryptography;
using System.Text;

namespace Marketplace;

/// <summary>
/// Ids derived from who asked and their idempotency key, so a retried request lands on the same grain and the grain,
/// not a lookup table, decides that it is a repeat.
/// </summary>
public static class Ids
{
    public static string Voucher(string programId, string tenantId, string claimKey) => "v-" + Hash(programId, tenantId, claimKey);

    public static string Bid(string tenantId, string idempotencyKey) => "b-" + Hash(tenantId, idempotencyKey);

    /// <summary>The bid a compute bid places in one model's market: one per tenant, key and model, so a retry finds it.</summary>
    public static string ComputeBid(string tenantId, string idempotencyKey, string gpuModel) => "b-" + Hash(tenantId, "compute", idempotencyKey, gpuModel);

    /// <summary>A good-till-cancelled compute bid itself, which rests in no market (its tries are <see cref="ComputeBid"/>s).</summary>
    public static string RestingComputeBid(string tenantId, string idempotencyKey) => "b-" + Hash(tenantId, "compute-gtc", idempotencyKey);

    /// <summary>The idempotency key of one try of a resting compute bid: each try places its own immediate-or-cancel bids.</summary>
    public static string ComputeTry(string computeBidId, int attempt) => $"{computeBidId}#{attempt}";

    public static string Pool(string providerId, string idempotencyKey) => "p-" + Hash(providerId, idempotencyKey);

    public static string Reservation(string bidId, int sequence) => $"{bidId}-{sequence}";

    /// <summary>A hash of a request body, to tell a true repeat from a reused key.</summary>
    public static string ContentHash(string content) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(content)))[..32].ToLowerInvariant();

    private static string Hash(params string[] parts)
    {
        var bytes = SHA256.HashData(Encoding.UTF8.GetBytes(string.Join('\u001f', parts)));
        return Convert.ToHexString(bytes, 0, 10).ToLowerInvariant();
    }
}
