using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Marketplace.Testing;
using Marketplace.Web.Infrastructure;
using Marketplace.Web.Queries;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Marketplace.Web.Tests;

/// <summary>A programme office runs a programme through the API: raises its budget, closes it early, exports its ledger, reads the audit trail.</summary>
[Collection(LedgerCollection.Name)]
public sealed class ProgrammeOfficeTests(LedgerCluster web)
{
    private readonly Api _api = new(web);

    private async Task<string> ProgrammeAsync(long budgetFen, long capFen)
    {
        var id = Scenario.Unique("office");
        var opens = web.Clock.GetUtcNow().AddDays(-1);
        var created = await web.Admin().PostJson("/api/v1/programs", new
        {
            id, name = "Compute Voucher for Small Firms", issuer = "Beijing Municipal Science and Technology Commission", province = "Beijing",
            claimOpensAt = opens, claimClosesAt = opens.AddYears(1), budgetFen, voucherCapFen = capFen, coverageBasisPoints = 5_000,
            allowedTenantKinds = new[] { "Sme" }, registrationDeadlineDays = 15, validityDays = 90,
        });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        return id;
    }

    private async Task<HttpResponseMessage> ClaimAsync(string programId)
    {
        var (_, sme) = await _api.Tenant();
        return await sme.PostJson($"/api/v1/programs/{programId}/vouchers", new { }, Scenario.Unique("claim"));
    }

    private async Task<VoucherView> Claimed(string programId)
    {
        var response = await ClaimAsync(programId);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        return await response.Read<VoucherView>();
    }

    private static Task<JsonElement> Problem(HttpResponseMessage response, HttpStatusCode status, string code) => Api.Problem(response, status, code);

    [Fact]
    public async Task A_raised_budget_is_funded_in_the_ledger_and_claimable_and_a_closed_programme_takes_no_claim_and_no_raise()
    {
        var admin = web.Admin();
        var id = await ProgrammeAsync(budgetFen: 1_000_000, capFen: 1_000_000);
        await Claimed(id);
        await Problem(await ClaimAsync(id), HttpStatusCode.UnprocessableEntity, "budget-exhausted");

        // A raise without a reason, or of nothing, is refused before it reaches the programme; one past the limit by the programme.
        await Problem(await admin.PostJson($"/api/v1/programs/{id}/budget", new { amountFen = 600_000 }), HttpStatusCode.UnprocessableEntity, "validation");
        // A raise of nothing is below the document's minimum: sent without the contract check, as a client that ignores it would.
        using var outOfBounds = web.Client(Names.Roles.Admin, checkContract: false);
        await Problem(await outOfBounds.PostJson($"/api/v1/programs/{id}/budget", new { amountFen = 0, reason = "none" }), HttpStatusCode.UnprocessableEntity, "validation");
        var limits = web.Factory.Services.GetRequiredService<Marketplace.Domain.MarketLimits>();
        await Problem(await admin.PostJson($"/api/v1/programs/{id}/budget", new { amountFen = limits.MaxProgramFen, reason = "too much" }),
            HttpStatusCode.UnprocessableEntity, "invalid-budget-raise");
        await Problem(await web.Regulator().PostJson($"/api/v1/programs/{id}/budget", new { amountFen = 600_000, reason = "second tranche" }),
            HttpStatusCode.Forbidden, "forbidden");

        var raised = await (await admin.PostJson($"/api/v1/programs/{id}/budget", new { amountFen = 600_000, reason = "Second tranche, notice 2026-12" }))
            .Read<ProgramView>();
        Assert.Equal((1_600_000L, 1_000_000L, 1_000_000L), (raised.BudgetFen, raised.Definition.BudgetFen, raised.Totals.IssuedFen));
        var second = await Claimed(id);
        Assert.Equal(600_000, second.FaceValueFen);

        var funding = (await web.Regulator().GetFromJsonAsync<LedgerPage>($"/api/v1/programs/{id}/ledger?kind=fund", WebCluster.Json))!;
        Assert.Equal(2, funding.TotalTransactions);
        Assert.Equal([(long)1_000_000, 600_000], funding.Transactions.Select(t => t.Entries.Single(e => e.Account == $"program:{id}:budget").AmountFen));
        Assert.Equal("Second tranche, notice 2026-12", funding.Transactions[1].Description);

        var closed = await (await admin.PostJson($"/api/v1/programs/{id}/close", new { reason = "Budget moved to the 2027 programme" })).Read<ProgramView>();
        Assert.Equal(web.Clock.GetUtcNow(), closed.ClosedAt);
        Assert.Equal("Budget moved to the 2027 programme", closed.CloseReason);
        await Problem(await ClaimAsync(id), HttpStatusCode.UnprocessableEntity, "program-closed");
        await Problem(await admin.PostJson($"/api/v1/programs/{id}/close", new { reason = "again" }), HttpStatusCode.Conflict, "program-closed");
        await Problem(await admin.PostJson($"/api/v1/programs/{id}/budget", new { amountFen = 1, reason = "late" }), HttpStatusCode.Conflict, "program-closed");
        var listed = (await web.Regulator().GetFromJsonAsync<List<ProgramSummary>>("/api/v1/programs", WebCluster.Json))!.Single(p => p.Id == id);
        Assert.Equal((1_600_000L, closed.ClosedAt), (listed.BudgetFen, listed.ClosedAt));

        var report = await new Marketplace.Storage.InvariantChecker(web.Database.DataSource).CheckAsync(web.Clock.GetUtcNow());
        Assert.DoesNotContain(report.Violations, v => v.Subject == $"program {id}");
    }

    [Fact]
    public async Task The_ledger_export_holds_every_entry_the_api_shows_for_the_same_filter_in_beijing_time()
    {
        var id = await ProgrammeAsync(budgetFen: 3_000_000, capFen: 1_000_000);
        for (var i = 0; i < 3; i++)
        {
            await Claimed(id);
        }
        var regulator = web.Regulator();
        var page = (await regulator.GetFromJsonAsync<LedgerPage>($"/api/v1/programs/{id}/ledger?pageSize=100", WebCluster.Json))!;
        Assert.Equal(4, page.TotalTransactions);

        var response = await regulator.GetAsync($"/api/v1/programs/{id}/ledger/export");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/csv", response.Content.Headers.ContentType!.MediaType);
        var bytes = await response.Content.ReadAsByteArrayAsync();
        Assert.Equal(Encoding.UTF8.Preamble.ToArray(), bytes[..3]);
        var lines = Encoding.UTF8.GetString(bytes[3..]).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("sequence,transaction_id,kind,voucher_id,reservation_id,posted_at,description,line,account,amount_fen", lines[0]);
        var expected = page.Transactions.SelectMany(t => t.Entries.Select((e, i) =>
            $"{t.Sequence},{t.Id},{t.Kind},{t.VoucherId},{t.ReservationId}," +
            $"{t.PostedAt.ToOffset(TimeSpan.FromHours(8)):yyyy-MM-dd'T'HH:mm:ss}+08:00,{t.Description},{i + 1},{e.Account},{e.AmountFen}")).ToList();
        Assert.Equal(expected, lines[1..]);

        var claims = (await regulator.GetAsync($"/api/v1/programs/{id}/ledger/export?kind=claim")).Content;
        Assert.Equal(1 + 3 * 2, (await claims.ReadAsStringAsync()).Split("\r\n", StringSplitOptions.RemoveEmptyEntries).Length);
        var now = web.Clock.GetUtcNow();
        await Problem(await regulator.GetAsync($"/api/v1/programs/{id}/ledger/export?from={Uri.EscapeDataString(now.ToString("O"))}&to={Uri.EscapeDataString(now.ToString("O"))}"),
            HttpStatusCode.UnprocessableEntity, "validation");
        await Problem(await regulator.GetAsync("/api/v1/programs/no-such-programme/ledger/export"), HttpStatusCode.NotFound, "not-found");
        await Problem(await (await _api.Tenant()).Client.GetAsync($"/api/v1/programs/{id}/ledger/export"), HttpStatusCode.Forbidden, "forbidden");
    }

    [Fact]
    public async Task A_regulator_finds_an_early_close_in_the_audit_trail_by_its_action()
    {
        var id = await ProgrammeAsync(budgetFen: 1_000_000, capFen: 1_000_000);
        Assert.Equal(HttpStatusCode.OK, (await web.Admin().PostJson($"/api/v1/programs/{id}/close", new { reason = "Programme ended by notice" })).StatusCode);
        await web.Factory.Services.GetRequiredService<AuditLog>().FlushAsync(CancellationToken.None);

        var action = Uri.EscapeDataString("POST /api/v1/programs/{id}/close");
        var entries = (await web.Regulator().GetFromJsonAsync<List<AuditView>>($"/api/v1/audit?action={action}&outcome=ok&pageSize=1000", WebCluster.Json))!;
        var entry = Assert.Single(entries, e => e.Resource == $"POST /api/v1/programs/{id}/close");
        Assert.Equal((Names.Roles.Admin, 200), (entry.Role, entry.StatusCode));
        Assert.All(entries, e => Assert.Equal("POST /api/v1/programs/{id}/close", e.Action));
        var none = (await web.Regulator().GetFromJsonAsync<List<AuditView>>($"/api/v1/audit?action={action}&outcome=failed", WebCluster.Json))!;
        Assert.DoesNotContain(none, e => e.Resource == $"POST /api/v1/programs/{id}/close");
    }
}
