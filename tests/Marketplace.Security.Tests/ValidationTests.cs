using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Marketplace.Grains;
using Marketplace.Testing;
using Xunit;

namespace Marketplace.Security.Tests;

/// <summary>Bad input is a 400 (unreadable) or 422 (invalid fields, each named) with a stable code, and changes nothing.</summary>
[Collection(MatrixCollection.Name)]
public sealed class ValidationTests(MatrixCluster web)
{
    private static async Task<JsonObject> Expect(HttpResponseMessage response, HttpStatusCode status, string code, params string[] fields)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"expected {(int)status}, got {(int)response.StatusCode}: {text}");
        var problem = await response.Problem();
        Assert.Equal(code, problem.Code());
        Assert.Equal($"/problems/{code}", problem.GetProperty("type").GetString());
        var errors = problem.Errors();
        foreach (var field in fields)
        {
            Assert.True(errors.ContainsKey(field), $"no error for {field}: {text}");
        }
        return JsonNode.Parse(text)!.AsObject();
    }

    private static Task<HttpResponseMessage> Post(HttpClient client, string url, JsonNode body, string? key = null) =>
        client.SendAsync(new Call("POST", url, Catalog.NoValues, Catalog.NoValues, body, key));

    private static Task<HttpResponseMessage> PostRaw(HttpClient client, string url, byte[] body, string contentType = "application/json") =>
        client.SendAsync(Requests.Raw("POST", url, body, contentType));

    private async Task<JsonObject> TenantBody(World world)
    {
        var tenant = (await world.Scenario.Grains.GetGrain<ITenantGrain>(world.TenantA).Get())!.Registration;
        return new JsonObject { ["name"] = tenant.Name, ["kind"] = "Sme", ["province"] = tenant.Province, ["creditCode"] = tenant.CreditCode };
    }

    [Fact]
    public async Task A_credit_code_with_a_wrong_check_character_is_refused_naming_the_character()
    {
        var world = await web.WorldAsync();
        var body = await TenantBody(world);
        var code = body["creditCode"]!.GetValue<string>();
        const string alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY";
        body["creditCode"] = code[..17] + alphabet[(alphabet.IndexOf(code[17], StringComparison.Ordinal) + 1) % alphabet.Length];
        var problem = await Expect(await Post(world.Client(Role.Sme), "/api/v1/tenants", body), HttpStatusCode.UnprocessableEntity, "validation", "creditCode");
        Assert.Contains($"check character should be '{code[17]}'", problem["errors"]!["creditCode"]![0]!.GetValue<string>());
    }

    [Theory]
    [InlineData("{\"gpuModel\":", "truncated")]
    [InlineData("{\"gpuModel\":'H800-80G'}", "single quotes")]
    [InlineData("{\"gpuModel\":\"H800-80G\",}", "trailing comma")]
    [InlineData("[1,2,3]", "an array")]
    [InlineData("{\"gpuCount\":\"1\"}", "a number as a string")]
    [InlineData("{\"gpuCount\":1.5}", "a fraction for a count")]
    [InlineData("{\"maxFenPerGpuHour\":9223372036854775808}", "a number beyond 64 bits")]
    [InlineData("{\"earliestStart\":\"2026-02-30T00:00:00Z\"}", "a date that does not exist")]
    public async Task Unreadable_json_is_a_400_with_the_malformed_request_code(string json, string what)
    {
        var world = await web.WorldAsync();
        var response = await PostRaw(world.Client(Role.Sme), "/api/v1/quotes", Encoding.UTF8.GetBytes(json));
        var problem = await Expect(response, HttpStatusCode.BadRequest, "malformed-request");
        Assert.False(string.IsNullOrEmpty(problem["detail"]?.GetValue<string>()), what);
    }

    [Fact]
    public async Task Invalid_utf8_and_json_nested_deeper_than_32_levels_are_refused()
    {
        var world = await web.WorldAsync();
        var client = world.Client(Role.Sme);
        await Expect(await PostRaw(client, "/api/v1/quotes", [.. "{\"gpuModel\":\""u8, 0xC3, 0x28, 0xFF, .. "\"}"u8]), HttpStatusCode.BadRequest, "malformed-request");
        var deep = new string('[', 40) + new string(']', 40);
        await Expect(await PostRaw(client, "/api/v1/quotes", Encoding.UTF8.GetBytes($"{{\"allowedProvinces\":{deep}}}")), HttpStatusCode.BadRequest,
            "malformed-request");
    }

    [Fact]
    public async Task A_body_over_64_KB_is_a_413_before_anything_is_stored()
    {
        var world = await web.WorldAsync();
        var body = Catalog.BidBody(world, null, resting: true);
        body["clientOrderId"] = new string('x', (int)Marketplace.Web.WebSetup.MaxRequestBodyBytes);
        var bidsBefore = await web.Database.ScalarAsync<long>("SELECT count(*) FROM bids");
        await Expect(await Post(world.Client(Role.Sme), "/api/v1/bids", body, "oversized-bid"), HttpStatusCode.RequestEntityTooLarge, "body-too-large");
        await Expect(await Post(world.Client(Role.Sme), "/api/v1/quotes", body), HttpStatusCode.RequestEntityTooLarge, "body-too-large");
        Assert.Equal(bidsBefore, await web.Database.ScalarAsync<long>("SELECT count(*) FROM bids"));
    }

    [Theory]
    [InlineData("text/plain")]
    [InlineData("application/xml")]
    [InlineData("application/json; charset=ebcdic")]
    [InlineData("application/json; charset=utf-16")]
    public async Task A_body_that_is_not_utf8_json_is_a_415(string contentType)
    {
        var world = await web.WorldAsync();
        var json = Catalog.BidBody(world, null, resting: false).ToJsonString();
        await Expect(await PostRaw(world.Client(Role.Sme), "/api/v1/quotes", Encoding.UTF8.GetBytes(json), contentType), HttpStatusCode.UnsupportedMediaType,
            "unsupported-media-type");
    }

    [Fact]
    public async Task Every_invalid_field_of_a_bid_is_named_at_once()
    {
        var world = await web.WorldAsync();
        var body = Catalog.BidBody(world, null, resting: true);
        body["gpuModel"] = "H100-80G";
        body["gpuCount"] = 0;
        body["durationHours"] = 10_000;
        body["maxFenPerGpuHour"] = -5;
        body["latestStart"] = Catalog.Time(world.Now.AddDays(15));
        body["timeInForce"] = "Sometimes";
        body["allowedProvinces"] = new JsonArray("Gansu", "Atlantis");
        body["voucherId"] = "' OR '1'='1";
        var problem = await Expect(await Post(world.Client(Role.Sme), "/api/v1/bids", body, "many-errors"), HttpStatusCode.UnprocessableEntity, "validation",
            "gpuModel", "gpuCount", "durationHours", "maxFenPerGpuHour", "latestStart", "timeInForce", "allowedProvinces[1]", "voucherId");
        Assert.Contains("14-day booking horizon", problem["errors"]!["latestStart"]![0]!.GetValue<string>());
        Assert.Contains("H800-80G", problem["errors"]!["gpuModel"]![0]!.GetValue<string>());
    }

    [Fact]
    public async Task A_gtc_bid_good_until_beyond_the_horizon_and_an_ioc_bid_with_a_good_until_are_refused()
    {
        var world = await web.WorldAsync();
        var gtc = Catalog.BidBody(world, null, resting: true);
        gtc["goodUntil"] = Catalog.Time(world.Now.AddDays(30));
        await Expect(await Post(world.Client(Role.Sme), "/api/v1/bids", gtc, "gtc-too-long"), HttpStatusCode.UnprocessableEntity, "validation", "goodUntil");
        var ioc = Catalog.BidBody(world, null, resting: false);
        ioc["goodUntil"] = Catalog.Time(world.Now.AddDays(1));
        await Expect(await Post(world.Client(Role.Sme), "/api/v1/bids", ioc, "ioc-good-until"), HttpStatusCode.UnprocessableEntity, "validation", "goodUntil");
    }

    [Theory]
    [InlineData("timeInForce", "Ioc,Gtc")]
    [InlineData("timeInForce", "1")]
    [InlineData("timeInForce", "")]
    public async Task An_enum_takes_exactly_one_of_its_names(string field, string value)
    {
        var world = await web.WorldAsync();
        var body = Catalog.BidBody(world, null, resting: true);
        body[field] = value;
        await Expect(await Post(world.Client(Role.Sme), "/api/v1/bids", body, Scenario.Unique("key")), HttpStatusCode.UnprocessableEntity, "validation", field);
    }

    [Theory]
    [InlineData("kind", "Sme,StartupTeam")]
    [InlineData("kind", "7")]
    [InlineData("name", "   ")]
    [InlineData("name", "tab\tinside")]
    [InlineData("province", "beijing")]
    public async Task A_tenant_registration_with_a_bad_field_is_refused_and_the_tenant_is_unchanged(string field, string value)
    {
        var world = await web.WorldAsync();
        var before = await world.Scenario.Grains.GetGrain<ITenantGrain>(world.TenantA).Get();
        var body = await TenantBody(world);
        body[field] = value;
        await Expect(await Post(world.Client(Role.Sme), "/api/v1/tenants", body), HttpStatusCode.UnprocessableEntity, "validation", field);
        Assert.Equal(before, await world.Scenario.Grains.GetGrain<ITenantGrain>(world.TenantA).Get());
    }

    [Fact]
    public async Task Text_over_its_length_and_required_fields_left_out_are_all_named()
    {
        var world = await web.WorldAsync();
        var body = Catalog.ProgramBody(world, Scenario.Unique("prog"));
        body["name"] = new string('n', 201);
        body.Remove("budgetFen");
        body.Remove("claimOpensAt");
        body["allowedTenantKinds"] = new JsonArray();
        await Expect(await Post(world.Client(Role.Admin), "/api/v1/programs", body, Scenario.Unique("key")), HttpStatusCode.UnprocessableEntity, "validation",
            "name", "budgetFen", "claimOpensAt", "allowedTenantKinds");
    }

    [Fact]
    public async Task Money_out_of_range_is_refused_and_the_largest_allowed_order_prices_without_overflow()
    {
        var world = await web.WorldAsync();
        await Expect(await Post(world.Client(Role.Sme), $"/api/v1/programs/{world.ProgramId}/vouchers", new JsonObject { ["amountFen"] = -500 }, "negative"),
            HttpStatusCode.UnprocessableEntity, "validation", "amountFen");
        var program = Catalog.ProgramBody(world, Scenario.Unique("prog"));
        program["budgetFen"] = 1_000_000_000_001;
        await Expect(await Post(world.Client(Role.Admin), "/api/v1/programs", program, Scenario.Unique("key")), HttpStatusCode.UnprocessableEntity, "validation",
            "budgetFen");

        // The bounds make price x GPUs x hours at most 100,000,000 x 1,024 x 336 fen: far inside a long.
        var pool = await world.Scenario.Pool(world.ProviderP, "L40S-48G", gpus: 100_000, ask: 100_000_000);
        var quote = Catalog.BidBody(world, null, resting: false);
        quote["gpuModel"] = "L40S-48G";
        quote["gpuCount"] = 1024;
        quote["durationHours"] = 336;
        quote["earliestStart"] = Catalog.Time(world.Hour(0));
        quote["latestStart"] = Catalog.Time(world.Hour(0));
        quote["maxFenPerGpuHour"] = 100_000_000;
        var response = await Post(world.Client(Role.Sme), "/api/v1/quotes", quote);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var priced = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal(pool.Id, priced["poolId"]!.GetValue<string>());
        Assert.Equal(100_000_000L * 1024 * 336, priced["costFen"]!.GetValue<long>());
    }

    [Theory]
    [InlineData("voucherId")]
    [InlineData("clientOrderId")]
    public async Task An_optional_id_given_as_an_empty_string_is_refused_not_used(string field)
    {
        var world = await web.WorldAsync();
        var body = Catalog.BidBody(world, null, resting: true);
        body[field] = "";
        // The key comes from the header unless the test is about the body's clientOrderId.
        await Expect(await Post(world.Client(Role.Sme), "/api/v1/bids", body, field == "clientOrderId" ? null : Scenario.Unique("key")),
            HttpStatusCode.UnprocessableEntity, "validation", field);
    }

    [Theory]
    [InlineData("voucherId", "v-1\n")]
    [InlineData("voucherId", "v-1\r\n")]
    [InlineData("clientOrderId", "key\u0000")]
    public async Task An_id_with_a_trailing_newline_or_control_character_is_refused(string field, string value)
    {
        var world = await web.WorldAsync();
        var body = Catalog.BidBody(world, null, resting: true);
        body[field] = value;
        await Expect(await Post(world.Client(Role.Sme), "/api/v1/bids", body, field == "clientOrderId" ? null : Scenario.Unique("key")),
            HttpStatusCode.UnprocessableEntity, "validation", field);
    }

    [Fact]
    public async Task Empty_pool_and_outage_ids_are_refused_not_used()
    {
        var world = await web.WorldAsync();
        var provider = world.Client(Role.Provider);
        var pool = new JsonObject { ["poolId"] = "", ["siteId"] = World.SiteWithPools, ["gpuModel"] = World.ModelOfP, ["gpuCount"] = 2, ["askFenPerGpuHour"] = 5_000 };
        await Expect(await Post(provider, $"/api/v1/providers/{world.ProviderP}/pools", pool, Scenario.Unique("key")), HttpStatusCode.UnprocessableEntity,
            "validation", "poolId");
        var outage = Catalog.OutageBody(world, null);
        outage["outageId"] = "";
        await Expect(await Post(provider, $"/api/v1/providers/{world.ProviderP}/pools/{world.PoolP.Id}/outages", outage), HttpStatusCode.UnprocessableEntity,
            "validation", "outageId");
    }

    [Theory]
    [InlineData(-48, -47, "to")]
    [InlineData(24 * 15, 24 * 15 + 2, "from")]
    [InlineData(-24 * 365 * 2025, -24 * 365 * 2025 + 1, "to")]
    public async Task An_outage_must_end_in_the_future_and_start_within_the_booking_horizon(int fromHours, int toHours, string field)
    {
        var world = await web.WorldAsync();
        var outage = Catalog.OutageBody(world, null);
        outage["from"] = Catalog.Time(world.Hour(fromHours));
        outage["to"] = Catalog.Time(world.Hour(toHours));
        var before = await world.Scenario.PoolView(world.PoolP.Id);
        await Expect(await Post(world.Client(Role.Provider), $"/api/v1/providers/{world.ProviderP}/pools/{world.PoolP.Id}/outages", outage),
            HttpStatusCode.UnprocessableEntity, "validation", field);
        Assert.Equal(before!.Version, (await world.Scenario.PoolView(world.PoolP.Id))!.Version);
    }

    [Fact]
    public async Task Approving_or_removing_a_provider_that_does_not_exist_is_a_404_and_publishes_no_notice()
    {
        var world = await web.WorldAsync();
        var admin = world.Client(Role.Admin);
        var notices = await web.Database.ScalarAsync<long>("SELECT count(*) FROM program_provider_notices");
        var approve = await admin.SendAsync(new Call("PUT", "/api/v1/programs/{id}/providers/{providerId}",
            Catalog.Values(("id", world.OtherProgramId), ("providerId", "prov-does-not-exist")), Catalog.NoValues,
            new JsonObject { ["batchId"] = Scenario.Unique("batch"), ["effectiveFrom"] = Catalog.Time(world.Now) }));
        await Expect(approve, HttpStatusCode.NotFound, "not-found");
        var remove = await admin.DeleteAsync(
            $"/api/v1/programs/{world.OtherProgramId}/providers/prov-does-not-exist?batchId={Scenario.Unique("batch")}&effectiveFrom={Catalog.Time(world.Now)}");
        await Expect(remove, HttpStatusCode.NotFound, "not-found");
        Assert.Equal(notices, await web.Database.ScalarAsync<long>("SELECT count(*) FROM program_provider_notices"));
    }

    [Fact]
    public async Task A_regulator_asking_for_the_pools_of_a_provider_that_does_not_exist_gets_404()
    {
        var world = await web.WorldAsync();
        var response = await world.Client(Role.Regulator).GetAsync("/api/v1/providers/prov-never-registered/pools");
        await Expect(response, HttpStatusCode.NotFound, "not-found");
    }

    [Fact]
    public async Task A_list_longer_than_it_may_be_is_refused_not_cut_short()
    {
        var world = await web.WorldAsync();
        var body = Catalog.ProgramBody(world, Scenario.Unique("prog"));
        body["allowedTenantKinds"] = new JsonArray([.. Enumerable.Range(0, 10).Select(_ => (JsonNode?)JsonValue.Create("Sme")), "Bogus"]);
        await Expect(await Post(world.Client(Role.Admin), "/api/v1/programs", body, Scenario.Unique("key")), HttpStatusCode.UnprocessableEntity, "validation",
            "allowedTenantKinds");
    }

    [Theory]
    [InlineData("/api/v1/vouchers/' OR '1'='1")]
    [InlineData("/api/v1/bids/<script>alert(1)<%2Fscript>")]
    [InlineData("/api/v1/reservations/%01%02")]
    public async Task A_malformed_id_in_the_path_is_not_found_and_is_not_echoed_at_length(string url)
    {
        var world = await web.WorldAsync();
        await Expect(await world.Client(Role.Sme).GetAsync(url), HttpStatusCode.NotFound, "not-found");
        var longId = new string('a', 3000);
        var problem = await Expect(await world.Client(Role.Sme).GetAsync($"/api/v1/vouchers/{longId}"), HttpStatusCode.NotFound, "not-found");
        Assert.True(problem["detail"]!.GetValue<string>().Length < 200);
    }
}
