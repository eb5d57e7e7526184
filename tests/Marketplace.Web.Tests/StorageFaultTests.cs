using System.Net;
using System.Text.Json;
using Marketplace.Testing;
using Xunit;

namespace Marketplace.Web.Tests;

/// <summary>A fault of the database that is not a bug reaches the client as 503 with Retry-After, whichever tier met it.</summary>
[Collection(PlatformCollection.Name)]
public sealed class StorageFaultTests(PlatformCluster web)
{
    private readonly Api _api = new(web);

    /// <summary>
    /// A database shutting down refuses work with SQLSTATE 57P03. Met inside a silo, the error crossed into the web tier
    /// without its SQLSTATE (the cluster's exception copy keeps only the message), was no longer recognised as transient
    /// and was answered 500. A trigger raises the same error for one tenant's bids only.
    /// </summary>
    [Fact]
    public async Task A_database_shutting_down_while_a_silo_writes_is_answered_503_with_retry_after()
    {
        var (tenantId, sme) = await _api.Tenant();
        await web.Database.ScalarAsync<int>($"""
            CREATE FUNCTION refuse_bids_of_{tenantId.Replace('-', '_')}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'the database system is shutting down' USING ERRCODE = 'cannot_connect_now';
            END $$;
            CREATE TRIGGER refuse_bids_of_{tenantId.Replace('-', '_')} BEFORE INSERT ON bids
                FOR EACH ROW WHEN (NEW.tenant_id = '{tenantId}') EXECUTE FUNCTION refuse_bids_of_{tenantId.Replace('-', '_')}();
            SELECT 1;
            """);
        try
        {
            var start = Hours.ToTime(Hours.FirstBookable(web.Clock.GetUtcNow()) + 1);
            var response = await sme.PostJson("/api/v1/bids", new
            {
                gpuModel = "H800-80G", gpuCount = 1, durationHours = 1, earliestStart = start, latestStart = start, maxFenPerGpuHour = 5_000, timeInForce = "IOC",
            }, Scenario.Unique("fault-key"));

            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.ServiceUnavailable, $"{(int)response.StatusCode}: {body}");
            Assert.NotNull(response.Headers.RetryAfter);
            Assert.Equal(Marketplace.Grains.StorageFaultFilter.Code, JsonDocument.Parse(body).RootElement.GetProperty("code").GetString());
        }
        finally
        {
            await web.Database.ScalarAsync<int>($"DROP TRIGGER refuse_bids_of_{tenantId.Replace('-', '_')} ON bids; SELECT 1;");
        }
    }
}
