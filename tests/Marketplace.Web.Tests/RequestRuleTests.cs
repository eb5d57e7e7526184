using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Marketplace.Testing;
using Xunit;

namespace Marketplace.Web.Tests;

/// <summary>Rules every request meets before it reaches a grain: names people read, and timestamps that say their offset.</summary>
[Collection(PlatformCollection.Name)]
public sealed class RequestRuleTests(PlatformCluster web)
{
    private readonly Api _api = new(web);

    /// <summary>A right-to-left override, a first-strong isolate, a zero-width space and a byte-order mark.</summary>
    public static TheoryData<string> HiddenCharacters => new() { "\u202E", "\u2066", "\u200B", "\uFEFF" };

    private static async Task AssertFieldRefused(HttpResponseMessage response, string field)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.UnprocessableEntity, body);
        using var problem = JsonDocument.Parse(body);
        var messages = problem.RootElement.GetProperty("errors").GetProperty(field);
        Assert.Contains(messages.EnumerateArray(), m => m.GetString()!.Contains("characters", StringComparison.Ordinal));
    }

    [Theory, MemberData(nameof(HiddenCharacters))]
    public async Task Names_refuse_direction_overrides_and_zero_width_characters_in_a_tenant_name(string hidden)
    {
        var id = Scenario.Unique("tenant");
        var response = await web.Sme(id).PostAsJsonAsync("/api/v1/tenants",
            new { name = $"Tenant{hidden} {id}", kind = "Sme", province = "Beijing", creditCode = Scenario.NewCreditCode() });
        await AssertFieldRefused(response, "name");
    }

    [Theory, MemberData(nameof(HiddenCharacters))]
    public async Task Names_refuse_direction_overrides_and_zero_width_characters_in_a_provider_name(string hidden)
    {
        var id = Scenario.Unique("prov");
        var response = await web.Provider(id).PostAsJsonAsync("/api/v1/providers", new
        {
            name = $"Provider{hidden}", creditCode = Scenario.NewCreditCode(),
            sites = new[] { new { siteId = "site-1", name = "Gansu DC", province = "Gansu", city = "Lanzhou", latitude = 36.06, longitude = 103.83, greenPowerPercent = 60, installedGpus = Scenario.InstalledGpus() } },
        });
        await AssertFieldRefused(response, "name");
    }

    [Theory, MemberData(nameof(HiddenCharacters))]
    public async Task Names_refuse_direction_overrides_and_zero_width_characters_in_a_site_name(string hidden)
    {
        var id = Scenario.Unique("prov");
        var response = await web.Provider(id).PostAsJsonAsync("/api/v1/providers", new
        {
            name = "Provider", creditCode = Scenario.NewCreditCode(),
            sites = new[] { new { siteId = "site-1", name = $"Gansu{hidden} DC", province = "Gansu", city = "Lanzhou", latitude = 36.06, longitude = 103.83, greenPowerPercent = 60, installedGpus = Scenario.InstalledGpus() } },
        });
        await AssertFieldRefused(response, "sites[0].name");
    }

    [Theory, MemberData(nameof(HiddenCharacters))]
    public async Task Names_refuse_direction_overrides_and_zero_width_characters_in_a_programme_name(string hidden)
    {
        var opens = web.Clock.GetUtcNow();
        var response = await web.Admin().PostJson("/api/v1/programs", new
        {
            id = Scenario.Unique("prog"), name = $"Voucher{hidden} 2026", issuer = "Commission", province = "Beijing", claimOpensAt = opens,
            claimClosesAt = opens.AddYears(1), budgetFen = 20_000_000, voucherCapFen = 5_000_000, coverageBasisPoints = 8_000,
            allowedTenantKinds = new[] { "Sme" }, registrationDeadlineDays = 15, validityDays = 90,
        }, Scenario.Unique("key"));
        await AssertFieldRefused(response, "name");
    }

    [Theory, MemberData(nameof(HiddenCharacters))]
    public async Task Names_refuse_direction_overrides_and_zero_width_characters_in_an_activity_title(string hidden)
    {
        // The title is checked before the voucher is looked up, so no voucher is needed to hear about it.
        var (_, sme) = await _api.Tenant();
        var response = await sme.PostAsJsonAsync("/api/v1/vouchers/no-such-voucher/activity",
            new { title = $"Legal{hidden} LLM", description = "Fine-tuning", plannedGpuHours = 400 });
        await AssertFieldRefused(response, "title");
    }

    [Fact]
    public async Task A_programme_may_give_its_validity_in_calendar_months()
    {
        var opens = web.Clock.GetUtcNow();
        object Terms(int months) => new
        {
            id = Scenario.Unique("prog"), name = "Voucher 2026", issuer = "Commission", province = "Beijing", claimOpensAt = opens,
            claimClosesAt = opens.AddYears(1), budgetFen = 20_000_000, voucherCapFen = 5_000_000, coverageBasisPoints = 8_000,
            allowedTenantKinds = new[] { "Sme" }, registrationDeadlineDays = 15, validityDays = 90, validityMonths = months,
        };

        var created = await web.Admin().PostJson("/api/v1/programs", Terms(3), Scenario.Unique("key"));
        var body = await created.Content.ReadAsStringAsync();
        Assert.True(created.StatusCode == HttpStatusCode.Created, body);
        using var view = JsonDocument.Parse(body);
        Assert.Equal(3, view.RootElement.GetProperty("definition").GetProperty("validityMonths").GetInt32());

        // Zero months is below the document's minimum: sent without the contract check, as a client that ignores it would.
        using var outOfBounds = web.Client(Names.Roles.Admin, checkContract: false);
        var refused = await outOfBounds.PostJson("/api/v1/programs", Terms(0), Scenario.Unique("key"));
        var problem = await refused.Content.ReadAsStringAsync();
        Assert.True(refused.StatusCode == HttpStatusCode.UnprocessableEntity, problem);
        using var errors = JsonDocument.Parse(problem);
        Assert.True(errors.RootElement.GetProperty("errors").TryGetProperty("validityMonths", out _), problem);
    }

    [Fact]
    public async Task A_timestamp_without_an_offset_is_refused_with_a_422_that_says_so()
    {
        var (_, sme) = await _api.Tenant();
        var start = Hours.ToTime(Hours.FirstBookable(web.Clock.GetUtcNow()) + 1).UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss",
            global::System.Globalization.CultureInfo.InvariantCulture);
        var json = $$"""{"gpuModel":"H800-80G","gpuCount":1,"durationHours":1,"earliestStart":"{{start}}","latestStart":"{{start}}Z","maxFenPerGpuHour":2000}""";
        var response = await sme.PostAsync("/api/v1/quotes", new StringContent(json, Encoding.UTF8, "application/json"));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.UnprocessableEntity, body);
        using var problem = JsonDocument.Parse(body);
        Assert.Equal("timestamp-without-offset", problem.RootElement.GetProperty("code").GetString());
        Assert.Contains($"'{start}' has no offset", problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }
}
