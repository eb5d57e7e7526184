using System.Net.Http.Json;
using Marketplace.Testing;
using Marketplace.Web.Queries;
using Xunit;

namespace Marketplace.Web.Tests;

[Collection(PlatformCollection.Name)]
public sealed class AuditRefusalTests(PlatformCluster web)
{
    /// <summary>
    /// A minute written in two parts is one group. The view took min() of the example, the address, the user agent and the
    /// trace id each on its own, so one group showed the address of one request beside the trace id of another.
    /// </summary>
    [Fact]
    public async Task Refusals_a_groups_example_address_agent_and_trace_come_from_one_row()
    {
        var subject = Scenario.Unique("refused");
        // Each row has the smaller value in some columns: a column-by-column min() takes from both.
        await web.Database.ScalarAsync<int>("""
            INSERT INTO audit_refusals (minute, subject, caller, role, action, status_code, count, example, address, user_agent, trace_id)
            VALUES (date_trunc('minute', now()), @s, 'caller', 'sme', 'GET /api/v1/x', 403, 2, 'GET /a', '10.0.0.9', 'agent-a', 'trace-z'),
                   (date_trunc('minute', now()), @s, 'caller', 'sme', 'GET /api/v1/x', 403, 3, 'GET /z', '10.0.0.1', 'agent-z', 'trace-a')
            RETURNING 1
            """, ("s", subject));

        using var admin = web.Admin();
        var refusals = await admin.GetFromJsonAsync<List<RefusalView>>("/api/v1/audit/refusals?pageSize=1000");
        var group = Assert.Single(refusals!, r => r.Subject == subject);
        Assert.Equal("5 GET /a 10.0.0.9 agent-a trace-z", $"{group.Count} {group.Example} {group.Address} {group.UserAgent} {group.TraceId}");
    }
}
