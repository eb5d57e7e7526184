using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Marketplace.Grains;
using Marketplace.Testing;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Marketplace.Security.Tests;

/// <summary>One request: an endpoint's route filled in, a query, a JSON body and an idempotency key.</summary>
public sealed record Call(
    string Method,
    string Pattern,
    IReadOnlyDictionary<string, string> Route,
    IReadOnlyDictionary<string, string> Query,
    JsonNode? Body,
    string? IdempotencyKey = null)
{
    public string Url
    {
        get
        {
            var path = Pattern;
            foreach (var (name, value) in Route)
            {
                path = path.Replace($"{{{name}?}}", Uri.EscapeDataString(value), StringComparison.Ordinal)
                    .Replace($"{{{name}}}", Uri.EscapeDataString(value), StringComparison.Ordinal);
            }
            if (path.Length > 1 && path.EndsWith('/'))
            {
                path = path[..^1];
            }
            return Query.Count == 0 ? path : path + "?" + string.Join("&", Query.Select(q => $"{Uri.EscapeDataString(q.Key)}={Uri.EscapeDataString(q.Value)}"));
        }
    }
}

/// <summary>
/// An endpoint as the security tests know it: how to call it as a role on a resource of its own or of another, and the
/// exact status each role gets. <see cref="Matrix"/> reads "anonymous | sme | provider | regulator | admin"; a role's
/// entry is one status, or two ("mine theirs") when the endpoint names a resource that someone owns.
/// </summary>
public sealed record EndpointCase(
    string Method,
    string Pattern,
    string Matrix,
    Func<World, Role, Target, bool, Task<Call>> Build)
{
    public string Key => $"{Method} {Pattern}";

    /// <summary>True when the endpoint names a resource someone owns (its matrix has "mine theirs" pairs).</summary>
    public bool Owned => Parse().Any(e => e.Mine != e.Theirs);

    /// <summary>True when a call changes something (the fuzz test sends only calls that must be refused to these).</summary>
    public bool Mutates => Method is "POST" or "PUT" or "PATCH" or "DELETE" && Pattern != "/api/v1/auth/dev-token" && Pattern != "/api/v1/auth/session"
        && Pattern != "/api/v1/accounts" && !Pattern.StartsWith("/connect/", StringComparison.Ordinal) && !Pattern.StartsWith("/account/", StringComparison.Ordinal)
        && Pattern != "/api/v1/quotes" && !Pattern.StartsWith(Names.Hub.Path, StringComparison.Ordinal);

    public int Expected(Role role, Target target)
    {
        var entry = Parse()[(int)role];
        return target == Target.Mine ? entry.Mine : entry.Theirs;
    }

    /// <summary>The role that may call the endpoint on its own resource (the fuzz test calls as this role).</summary>
    public Role Owner => Enum.GetValues<Role>().Where(r => r != Role.Anonymous).FirstOrDefault(r => Expected(r, Target.Mine) < 300, Role.Sme);

    private (int Mine, int Theirs)[] Parse() => Matrix.Split('|').Select(part =>
    {
        var statuses = part.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        return statuses.Length == 1 ? (statuses[0], statuses[0]) : (statuses[0], statuses[1]);
    }).ToArray();
}

/// <summary>Every endpoint of the web tier, classified. A new endpoint fails the matrix test until it is added here.</summary>
public static class Catalog
{
    public static readonly IReadOnlyDictionary<string, string> NoValues = new Dictionary<string, string>();

    /// <summary>Routes of the Orleans dashboard: a third-party app, admin only; a few representatives stand for all.</summary>
    public const string DashboardFamily = "/dashboard/";

    public static readonly IReadOnlyList<EndpointCase> All =
    [
        // ---- infrastructure: open to everyone ----------------------------------------------------------------------
        new("GET", "/healthz", "200 | 200 | 200 | 200 | 200", (_, _, _, _) => Get("/healthz")),
        new("GET", "/readyz", "200 | 200 | 200 | 200 | 200", (_, _, _, _) => Get("/readyz")),
        new("GET", "/openapi/{documentName}.json", "200 | 200 | 200 | 200 | 200",
            (_, _, _, _) => Get("/openapi/{documentName}.json", ("documentName", "v1"))),
        new("GET", "/scalar/{documentName?}", "200 | 200 | 200 | 200 | 200", (_, _, _, _) => Get("/scalar/{documentName?}", ("documentName", "v1"))),
        new("GET", "/scalar/scalar.js", "200 | 200 | 200 | 200 | 200", (_, _, _, _) => Get("/scalar/scalar.js")),
        new("GET", "/scalar/scalar.aspnetcore.js", "200 | 200 | 200 | 200 | 200", (_, _, _, _) => Get("/scalar/scalar.aspnetcore.js")),
        new("GET", "/scalar/favicon.svg", "200 | 200 | 200 | 200 | 200", (_, _, _, _) => Get("/scalar/favicon.svg")),
        new("GET", "/metrics", "200 | 200 | 200 | 200 | 200", (_, _, _, _) => Get("/metrics")),

        // ---- the Orleans dashboard: admins only (these stand for every route of the family) -------------------------
        new("GET", "/dashboard/index.html", "401 | 403 | 403 | 403 | 200", (_, _, _, _) => Get("/dashboard/index.html")),
        new("GET", "/dashboard/version", "401 | 403 | 403 | 403 | 200", (_, _, _, _) => Get("/dashboard/version")),
        new("GET", "/dashboard/ClusterStats", "401 | 403 | 403 | 403 | 200", (_, _, _, _) => Get("/dashboard/ClusterStats")),

        // ---- the hub: any signed-in caller; without a connection id the transport endpoint answers 400 -------------
        new("POST", "/hubs/market/negotiate", "401 | 200 | 200 | 200 | 200",
            (_, _, _, _) => Task.FromResult(new Call("POST", "/hubs/market/negotiate", NoValues, Values(("negotiateVersion", "1")), null))),
        new("GET", "/hubs/market", "401 | 400 | 400 | 400 | 400", (_, _, _, _) => Get("/hubs/market")),

        // ---- auth -----------------------------------------------------------------------------------------------------
        new("POST", "/api/v1/auth/dev-token", "200 | 200 | 200 | 200 | 200",
            (_, _, _, _) => Post("/api/v1/auth/dev-token", new JsonObject { ["role"] = "sme", ["tenantId"] = "t-dev-1" })),
        new("POST", "/api/v1/auth/session", "401 | 403 | 403 | 403 | 204", (_, _, _, _) => Post("/api/v1/auth/session", new JsonObject())),

        // ---- accounts: anyone opens a new organisation's account (answered alike whether the email had one; an admin gets
        // the account); an admin changes roles and registers API clients ---------------------------------------------------
        new("POST", "/api/v1/accounts", "202 | 202 | 202 | 202 | 201", (_, _, _, _) => Post("/api/v1/accounts", AccountBody())),
        new("PUT", "/api/v1/accounts/{id}/role", "401 | 403 | 403 | 403 | 200", async (w, _, _, _) =>
            await Send("PUT", "/api/v1/accounts/{id}/role", Values(("id", await NewAccountAsync(w))), NoValues, new JsonObject { ["role"] = "regulator" })),
        new("POST", "/api/v1/clients", "401 | 403 | 403 | 403 | 201",
            (w, _, _, _) => Post("/api/v1/clients", new JsonObject { ["displayName"] = "Matrix client", ["role"] = "sme", ["tenantId"] = w.TenantA })),

        // ---- sign-in and the OpenID Connect provider: the same for every caller (bearer tokens play no part) ---------
        new("GET", "/account/login", "200 | 200 | 200 | 200 | 200", (_, _, _, _) => Get("/account/login")),
        new("POST", "/account/login", "415 | 415 | 415 | 415 | 415", (_, _, _, _) => Post("/account/login", new JsonObject { ["email"] = "a@example.cn" })),
        new("POST", "/account/login/code", "415 | 415 | 415 | 415 | 415", (_, _, _, _) => Post("/account/login/code", new JsonObject { ["code"] = "123456" })),
        // A self-registered account's address confirmation: without a valid link, the page says so (400) to anyone.
        new("GET", "/account/confirm", "400 | 400 | 400 | 400 | 400", (_, _, _, _) => Get("/account/confirm?user=nobody&code=not-a-code")),
        // The second factor's page belongs to the sign-in session: without one, to the sign-in page (followed: 200).
        new("GET", "/account/two-factor", "200 | 200 | 200 | 200 | 200", (_, _, _, _) => Get("/account/two-factor")),
        new("POST", "/account/two-factor", "415 | 415 | 415 | 415 | 415", (_, _, _, _) => Post("/account/two-factor", new JsonObject { ["code"] = "123456" })),
        new("GET", "/connect/authorize", "400 | 400 | 400 | 400 | 400", (_, _, _, _) => Get("/connect/authorize")),
        new("POST", "/connect/authorize", "400 | 400 | 400 | 400 | 400", (_, _, _, _) => Post("/connect/authorize", new JsonObject())),
        new("POST", "/connect/token", "400 | 400 | 400 | 400 | 400", (_, _, _, _) => Post("/connect/token", new JsonObject())),
        new("GET", "/connect/endsession", "200 | 200 | 200 | 200 | 200", (_, _, _, _) => Get("/connect/endsession")),
        new("POST", "/connect/endsession", "400 | 400 | 400 | 400 | 400", (_, _, _, _) => Post("/connect/endsession", new JsonObject())),

        // ---- programs: anyone signed in reads them; only an admin changes them -------------------------------------
        new("POST", "/api/v1/programs/", "401 | 403 | 403 | 403 | 201", (w, _, _, _) => Post("/api/v1/programs/", ProgramBody(w, Scenario.Unique("prog")),
            key: Scenario.Unique("key"))),
        new("GET", "/api/v1/programs/", "401 | 200 | 200 | 200 | 200", (_, _, _, _) => Get("/api/v1/programs/")),
        new("GET", "/api/v1/programs/{id}", "401 | 200 | 200 | 200 | 200", (w, _, t, _) => Get("/api/v1/programs/{id}", ("id", Program(w, t)))),
        new("PUT", "/api/v1/programs/{id}/companies/{creditCode}", "401 | 403 | 403 | 403 | 200",
            (w, _, _, _) => Send("PUT", "/api/v1/programs/{id}/companies/{creditCode}", Values(("id", w.OtherProgramId), ("creditCode", w.CreditCodeQ)), NoValues,
                new JsonObject { ["batchId"] = Scenario.Unique("batch"), ["effectiveFrom"] = Time(w.Now.AddDays(200)) })),
        new("DELETE", "/api/v1/programs/{id}/companies/{creditCode}", "401 | 403 | 403 | 403 | 200",
            (w, _, _, _) => Send("DELETE", "/api/v1/programs/{id}/companies/{creditCode}", Values(("id", w.OtherProgramId), ("creditCode", w.CreditCodeP)),
                Values(("batchId", Scenario.Unique("batch")), ("effectiveFrom", Time(w.Now.AddDays(300)))), null)),
        new("PUT", "/api/v1/programs/{id}/providers/{providerId}", "401 | 403 | 403 | 403 | 200",
            (w, _, _, _) => Send("PUT", "/api/v1/programs/{id}/providers/{providerId}", Values(("id", w.OtherProgramId), ("providerId", w.ProviderP)), NoValues,
                new JsonObject { ["batchId"] = Scenario.Unique("batch"), ["effectiveFrom"] = Time(w.Now.AddDays(200)) })),
        new("DELETE", "/api/v1/programs/{id}/providers/{providerId}", "401 | 403 | 403 | 403 | 200",
            (w, _, _, _) => Send("DELETE", "/api/v1/programs/{id}/providers/{providerId}", Values(("id", w.OtherProgramId), ("providerId", w.ProviderQ)),
                Values(("batchId", Scenario.Unique("batch")), ("effectiveFrom", Time(w.Now.AddDays(300)))), null)),
        new("POST", "/api/v1/programs/{id}/budget", "401 | 403 | 403 | 403 | 200",
            (w, _, _, _) => Send("POST", "/api/v1/programs/{id}/budget", Values(("id", w.OtherProgramId)), NoValues,
                new JsonObject { ["amountFen"] = 1_000, ["reason"] = "Second tranche" }, Scenario.Unique("key"))),
        // A program closes once: an admin's close that should succeed needs a program of its own.
        new("POST", "/api/v1/programs/{id}/close", "401 | 403 | 403 | 403 | 200", async (w, role, _, _) =>
            await Send("POST", "/api/v1/programs/{id}/close", Values(("id", role == Role.Admin ? await w.Scenario.Program() : w.OtherProgramId)), NoValues,
                new JsonObject { ["reason"] = "Ended by notice" }, null)),
        new("GET", "/api/v1/programs/{id}/ledger/export", "401 | 403 | 403 | 200 | 200",
            (w, _, t, _) => Send("GET", "/api/v1/programs/{id}/ledger/export", Values(("id", Program(w, t))), Values(("kind", "claim")), null)),
        new("GET", "/api/v1/programs/{id}/ledger", "401 | 403 | 403 | 200 | 200",
            (w, _, t, _) => Send("GET", "/api/v1/programs/{id}/ledger", Values(("id", Program(w, t))), Values(("page", "1"), ("pageSize", "50")), null)),
        new("GET", "/api/v1/programs/{id}/takeup", "401 | 403 | 403 | 200 | 200", (w, _, t, _) => Get("/api/v1/programs/{id}/takeup", ("id", Program(w, t)))),
        new("GET", "/api/v1/programs/{id}/evidence", "401 | 403 | 403 | 200 | 200", (w, _, t, _) => Get("/api/v1/programs/{id}/evidence", ("id", Program(w, t)))),
        new("POST", "/api/v1/evidence/verify", "401 | 403 | 403 | 200 | 200",
            (w, _, t, _) => Post("/api/v1/evidence/verify", new JsonObject { ["programId"] = Program(w, t) })),
        new("GET", "/api/v1/programs/{id}/forecast", "401 | 403 | 403 | 200 | 200", (w, _, t, _) => Get("/api/v1/programs/{id}/forecast", ("id", Program(w, t)))),

        // ---- tenants: an SME's own record only ----------------------------------------------------------------------
        new("POST", "/api/v1/tenants/", "401 | 200 | 403 | 403 | 403", async (w, _, _, _) =>
        {
            var tenant = (await w.Scenario.Grains.GetGrain<ITenantGrain>(w.TenantA).Get())!.Registration;
            return await Post("/api/v1/tenants/", new JsonObject
            {
                ["name"] = tenant.Name, ["kind"] = tenant.Kind.ToString(), ["province"] = tenant.Province, ["creditCode"] = tenant.CreditCode,
            });
        }),
        new("GET", "/api/v1/tenants/me", "401 | 200 | 403 | 403 | 403", (_, _, _, _) => Get("/api/v1/tenants/me")),
        new("GET", "/api/v1/tenants/me/vouchers", "401 | 200 | 403 | 403 | 403", (_, _, _, _) => Get("/api/v1/tenants/me/vouchers")),
        new("GET", "/api/v1/tenants/me/bids", "401 | 200 | 403 | 403 | 403", (_, _, _, _) => Get("/api/v1/tenants/me/bids")),
        new("GET", "/api/v1/tenants/me/reservations", "401 | 200 | 403 | 403 | 403", (_, _, _, _) => Get("/api/v1/tenants/me/reservations")),
        // ---- cash (rule 8): the operator records money received; the company reads and withdraws its own; oversight reads any
        new("POST", "/api/v1/tenants/{id}/cash/top-ups", "401 | 403 | 403 | 403 | 200",
            (w, _, _, _) => Send("POST", "/api/v1/tenants/{id}/cash/top-ups", Values(("id", w.TenantA)), NoValues,
                new JsonObject { ["amountFen"] = 1_000, ["paymentReference"] = Scenario.Unique("bank") }, null)),
        // One fen of the prepaid cash the world's company was paid in.
        new("POST", "/api/v1/tenants/me/cash/withdrawals", "401 | 200 | 403 | 403 | 403",
            (_, _, _, _) => Post("/api/v1/tenants/me/cash/withdrawals", new JsonObject { ["amountFen"] = 1 }, key: Scenario.Unique("key"))),
        new("GET", "/api/v1/tenants/me/cash", "401 | 200 | 403 | 403 | 403", (_, _, _, _) => Get("/api/v1/tenants/me/cash")),
        new("GET", "/api/v1/tenants/{id}/cash", "401 | 403 | 403 | 200 | 200", (w, _, _, _) => Get("/api/v1/tenants/{id}/cash", ("id", w.TenantA))),

        // ---- companies: the programme office verifies registrations ---------------------------------------------------
        new("GET", "/api/v1/companies/", "401 | 403 | 403 | 200 | 200",
            (_, _, _, _) => Send("GET", "/api/v1/companies/", NoValues, Values(("state", "pending"), ("page", "1"), ("pageSize", "50")), null)),
        new("POST", "/api/v1/companies/{party}/{id}/verify", "401 | 403 | 403 | 200 | 200", async (w, _, _, _) =>
        {
            // A fresh registration each time, so that no call changes what the seeded companies may do.
            var (tenant, _) = await w.Scenario.Tenant(verified: false);
            return await Send("POST", "/api/v1/companies/{party}/{id}/verify", Values(("party", "tenants"), ("id", tenant)), NoValues, null);
        }),
        new("POST", "/api/v1/companies/{party}/{id}/reject", "401 | 403 | 403 | 200 | 200", async (w, _, _, _) =>
        {
            var (provider, _) = await w.Scenario.Provider(verified: false);
            return await Send("POST", "/api/v1/companies/{party}/{id}/reject", Values(("party", "providers"), ("id", provider)), NoValues,
                new JsonObject { ["reason"] = "The credit code belongs to another company." });
        }),

        // ---- vouchers -----------------------------------------------------------------------------------------------
        new("POST", "/api/v1/programs/{id}/vouchers", "401 | 201 | 403 | 403 | 403", async (w, role, _, fresh) =>
        {
            // Tenant A already holds an open voucher of the seeded program: a claim that should succeed needs a new one.
            var program = fresh && role == Role.Sme ? await w.Scenario.Program() : w.ProgramId;
            return await Send("POST", "/api/v1/programs/{id}/vouchers", Values(("id", program)), NoValues, new JsonObject { ["amountFen"] = 1_000_000 },
                Scenario.Unique("key"));
        }),
        new("POST", "/api/v1/vouchers/{id}/activity", "401 | 200 404 | 403 | 403 | 403",
            (w, _, t, _) => Send("POST", "/api/v1/vouchers/{id}/activity", Values(("id", t == Target.Mine ? w.VoucherA.Id : w.VoucherB.Id)), NoValues,
                new JsonObject
                {
                    ["title"] = World.Activity.Title, ["description"] = World.Activity.Description, ["plannedGpuHours"] = World.Activity.PlannedGpuHours,
                })),
        new("GET", "/api/v1/vouchers/{id}", "401 | 200 404 | 404 | 200 | 200",
            (w, _, t, _) => Get("/api/v1/vouchers/{id}", ("id", t == Target.Mine ? w.VoucherA.Id : w.VoucherB.Id))),
        new("GET", "/api/v1/vouchers/{id}/evidence", "401 | 200 404 | 404 | 200 | 200",
            (w, _, t, _) => Get("/api/v1/vouchers/{id}/evidence", ("id", t == Target.Mine ? w.VoucherA.Id : w.VoucherB.Id))),

        // ---- providers and pools: a provider's own only; regulators and admins read pools --------------------------
        new("POST", "/api/v1/providers/", "401 | 403 | 200 | 403 | 403", async (w, _, _, _) =>
        {
            var provider = (await w.Scenario.Grains.GetGrain<IProviderGrain>(w.ProviderP).Get())!.Registration;
            return await Post("/api/v1/providers/", ProviderBody(provider));
        }),
        new("GET", "/api/v1/providers/me", "401 | 403 | 200 | 403 | 403", (_, _, _, _) => Get("/api/v1/providers/me")),
        new("GET", "/api/v1/providers/{id}/pools", "401 | 404 | 200 404 | 200 | 200", (w, _, t, _) => Get("/api/v1/providers/{id}/pools", ("id", Provider(w, t)))),
        new("GET", "/api/v1/providers/{id}/reliability", "401 | 404 | 200 404 | 200 | 200",
            (w, _, t, _) => Get("/api/v1/providers/{id}/reliability", ("id", Provider(w, t)))),
        new("GET", "/api/v1/providers/{id}/history", "401 | 404 | 200 404 | 200 | 200",
            (w, _, t, _) => Send("GET", "/api/v1/providers/{id}/history", Values(("id", Provider(w, t))), Values(("range", "day")), null)),
        new("GET", "/api/v1/providers/{id}/reservations", "401 | 403 | 200 404 | 403 | 403",
            (w, _, t, _) => Get("/api/v1/providers/{id}/reservations", ("id", Provider(w, t)))),
        new("POST", "/api/v1/providers/{id}/pools", "401 | 403 | 201 404 | 403 | 403",
            (w, _, t, _) => Send("POST", "/api/v1/providers/{id}/pools", Values(("id", Provider(w, t))), NoValues, new JsonObject
            {
                ["siteId"] = World.SiteWithPools, ["gpuModel"] = World.ModelOfP, ["gpuCount"] = 4, ["askFenPerGpuHour"] = 3_000,
            }, Scenario.Unique("key"))),
        new("PATCH", "/api/v1/providers/{id}/pools/{poolId}", "401 | 403 | 200 404 | 403 | 403",
            (w, _, t, _) => Send("PATCH", "/api/v1/providers/{id}/pools/{poolId}",
                Values(("id", Provider(w, t)), ("poolId", t == Target.Mine ? w.PoolP.Id : w.PoolQ.Id)), NoValues, new JsonObject { ["askFenPerGpuHour"] = 1_500 })),
        new("POST", "/api/v1/providers/{id}/pools/{poolId}/outages", "401 | 403 | 200 404 | 403 | 403", async (w, role, t, fresh) =>
        {
            // An outage of a fresh pool, so the seeded reservations stay as they are.
            var pool = t == Target.Theirs ? w.PoolQ.Id : fresh && role == Role.Provider ? (await w.NewPoolOfP()).Id : w.PoolP.Id;
            return await Send("POST", "/api/v1/providers/{id}/pools/{poolId}/outages", Values(("id", Provider(w, t)), ("poolId", pool)), NoValues,
                OutageBody(w, siteId: null));
        }),
        new("POST", "/api/v1/providers/{id}/outages", "401 | 403 | 200 404 | 403 | 403",
            (w, _, t, _) => Send("POST", "/api/v1/providers/{id}/outages", Values(("id", Provider(w, t))), NoValues, OutageBody(w, World.EmptySite))),
        new("POST", "/api/v1/providers/{id}/outages/{outageId}/end", "401 | 403 | 200 404 | 403 | 403", async (w, role, t, _) =>
        {
            // Each call ends an outage of its own on a fresh pool of P: an ended outage cannot be ended twice.
            var outageId = Scenario.Unique("o");
            if (role == Role.Provider && t == Target.Mine)
            {
                var pool = await w.NewPoolOfP();
                await w.Scenario.Grains.GetGrain<IProviderGrain>(w.ProviderP)
                    .DeclareOutage(new OutageRequest(pool.Id, null, new Outage(outageId, w.Hour(200), w.Hour(202), "cooling maintenance")));
            }
            return await Send("POST", "/api/v1/providers/{id}/outages/{outageId}/end", Values(("id", Provider(w, t)), ("outageId", outageId)), NoValues, null);
        }),

        // ---- the market: an SME's own bids; a bid or quote may only name the caller's own voucher ------------------
        new("POST", "/api/v1/bids", "401 | 201 422 | 403 | 403 | 403",
            (w, _, t, _) => Post("/api/v1/bids", BidBody(w, t == Target.Mine ? w.VoucherA.Id : w.VoucherB.Id, resting: true), key: Scenario.Unique("key"))),
        new("POST", "/api/v1/quotes", "401 | 200 422 | 403 | 403 | 403",
            (w, _, t, _) => Post("/api/v1/quotes", BidBody(w, t == Target.Mine ? w.VoucherA.Id : w.VoucherB.Id, resting: false))),
        new("GET", "/api/v1/bids/{id}", "401 | 200 404 | 403 | 403 | 403",
            (w, _, t, _) => Get("/api/v1/bids/{id}", ("id", t == Target.Mine ? w.FilledBidA.Id : w.FilledBidB.Id))),
        new("DELETE", "/api/v1/bids/{id}", "401 | 200 404 | 403 | 403 | 403", async (w, role, t, fresh) =>
        {
            var bid = t == Target.Theirs ? w.RestingBidB.Id : fresh && role == Role.Sme ? (await w.NewRestingBid(w.TenantA)).Id : w.RestingBidA.Id;
            return await Send("DELETE", "/api/v1/bids/{id}", Values(("id", bid)), NoValues, null);
        }),
        new("GET", "/api/v1/markets", "401 | 200 | 200 | 200 | 200", (_, _, _, _) => Get("/api/v1/markets")),
        new("GET", "/api/v1/accelerators", "401 | 200 | 200 | 200 | 200", (_, _, _, _) => Get("/api/v1/accelerators")),
        new("GET", "/api/v1/markets/{gpuModel}/book", "401 | 200 | 200 | 200 | 200", (_, _, _, _) => Get("/api/v1/markets/{gpuModel}/book", ("gpuModel", World.ModelOfP))),

        // ---- reservations: the tenant's, the provider's whose pool it runs on, regulators and admins read ----------
        new("GET", "/api/v1/reservations/{id}", "401 | 200 404 | 200 404 | 200 | 200",
            (w, _, t, _) => Get("/api/v1/reservations/{id}", ("id", t == Target.Mine ? w.ReservationA : w.ReservationB))),
        new("GET", "/api/v1/reservations/{id}/cancellation", "401 | 200 404 | 403 | 403 | 403",
            (w, _, t, _) => Get("/api/v1/reservations/{id}/cancellation", ("id", t == Target.Mine ? w.ReservationA : w.ReservationB))),
        new("POST", "/api/v1/reservations/{id}/cancel", "401 | 200 404 | 403 | 403 | 403", async (w, role, t, fresh) =>
        {
            var reservation = t == Target.Theirs ? w.ReservationB : fresh && role == Role.Sme ? await w.NewReservationOfA() : w.ReservationA;
            return await Send("POST", "/api/v1/reservations/{id}/cancel", Values(("id", reservation)), NoValues, null);
        }),

        // ---- oversight ------------------------------------------------------------------------------------------------
        new("GET", "/api/v1/utilization", "401 | 403 | 403 | 200 | 200", (_, _, _, _) => Get("/api/v1/utilization")),
        new("GET", "/api/v1/takeup", "401 | 403 | 403 | 200 | 200", (_, _, _, _) => Get("/api/v1/takeup")),
        new("GET", "/api/v1/audit", "401 | 403 | 403 | 200 | 200", (_, _, _, _) => Send("GET", "/api/v1/audit", NoValues, Values(("page", "1"), ("pageSize", "10")), null)),
        new("GET", "/api/v1/history/utilization", "401 | 403 | 403 | 200 | 200", (_, _, _, _) => Get("/api/v1/history/utilization")),
        new("GET", "/api/v1/history/fills", "401 | 403 | 403 | 200 | 200",
            (_, _, _, _) => Send("GET", "/api/v1/history/fills", NoValues, Values(("range", "week")), null)),
        new("GET", "/api/v1/history/takeup", "401 | 403 | 403 | 200 | 200", (_, _, _, _) => Get("/api/v1/history/takeup")),
        new("GET", "/api/v1/audit/refusals", "401 | 403 | 403 | 403 | 200",
            (_, _, _, _) => Send("GET", "/api/v1/audit/refusals", NoValues, Values(("page", "1"), ("pageSize", "10")), null)),
        new("GET", "/api/v1/routing", "401 | 200 | 200 | 200 | 200", (_, _, _, _) => Get("/api/v1/routing")),
        new("PUT", "/api/v1/routing", "401 | 403 | 403 | 200 | 200",
            (_, _, _, _) => Send("PUT", "/api/v1/routing", NoValues, NoValues, new JsonObject { ["preferredProvinces"] = new JsonArray(), ["withinBasisPoints"] = 0 })),
    ];

    /// <summary>The endpoints the running app serves, as "METHOD pattern" (endpoints without a method count as GET).</summary>
    public static IReadOnlyList<string> Served(WebCluster web) =>
        web.Factory.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .SelectMany(e => (e.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? DefaultMethods(e.RoutePattern.RawText!))
                .Select(m => $"{m} {e.RoutePattern.RawText}"))
            .Order(StringComparer.Ordinal)
            .ToList();

    /// <summary>Health checks and the hub's transport take any method; the catalog covers the ones clients use.</summary>
    private static IReadOnlyList<string> DefaultMethods(string pattern) => pattern == "/hubs/market/negotiate" ? ["POST"] : ["GET"];

    public static IReadOnlyDictionary<string, string> Values(params (string Name, string Value)[] values) =>
        values.ToDictionary(v => v.Name, v => v.Value);

    public static string Time(DateTimeOffset time) => time.ToUniversalTime().ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);

    private static string Program(World w, Target t) => t == Target.Mine ? w.ProgramId : w.OtherProgramId;

    private static string Provider(World w, Target t) => t == Target.Mine ? w.ProviderP : w.ProviderQ;

    private static JsonObject AccountBody() => new()
    {
        ["email"] = $"{Scenario.Unique("user")}@example.cn", ["password"] = "matrix-password-1", ["role"] = "sme",
    };

    /// <summary>An account, for the admin's calls on accounts to act on (made by an admin: anyone else is not told its id).</summary>
    private static async Task<string> NewAccountAsync(World w)
    {
        using var admin = w.Web.Admin();
        var response = await admin.PostAsJsonAsync("/api/v1/accounts", AccountBody());
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<string>();
    }

    private static Task<Call> Get(string pattern, params (string Name, string Value)[] route) =>
        Task.FromResult(new Call("GET", pattern, Values(route), NoValues, null));

    private static Task<Call> Post(string pattern, JsonNode body, string? key = null) =>
        Task.FromResult(new Call("POST", pattern, NoValues, NoValues, body, key));

    private static Task<Call> Send(string method, string pattern, IReadOnlyDictionary<string, string> route, IReadOnlyDictionary<string, string> query,
        JsonNode? body, string? key = null) =>
        Task.FromResult(new Call(method, pattern, route, query, body, key));

    public static JsonObject ProgramBody(World w, string id) => new()
    {
        ["id"] = id,
        ["name"] = "Security test program",
        ["issuer"] = "Beijing Municipal Science & Technology Commission",
        ["province"] = "Beijing",
        ["claimOpensAt"] = Time(w.Now.AddDays(-1)),
        ["claimClosesAt"] = Time(w.Now.AddDays(60)),
        ["budgetFen"] = 100_000_000,
        ["voucherCapFen"] = 5_000_000,
        ["coverageBasisPoints"] = 8_000,
        ["allowedTenantKinds"] = new JsonArray("Sme", "StartupTeam"),
        ["registrationDeadlineDays"] = 15,
        ["validityDays"] = 90,
        ["stackable"] = false,
        ["allowMultipleOpenVouchers"] = false,
    };

    public static JsonObject ProviderBody(ProviderRegistration provider) => new()
    {
        ["name"] = provider.Name,
        ["creditCode"] = provider.CreditCode,
        ["sites"] = new JsonArray(provider.Sites.Select(s => (JsonNode)new JsonObject
        {
            ["siteId"] = s.SiteId, ["name"] = s.Name, ["province"] = s.Province, ["city"] = s.City,
            ["latitude"] = s.Latitude, ["longitude"] = s.Longitude, ["greenPowerPercent"] = s.GreenPowerPercent,
            ["installedGpus"] = new JsonObject((provider.Installed ?? []).Where(i => i.SiteId == s.SiteId)
                .Select(i => KeyValuePair.Create(i.GpuModel, (JsonNode?)JsonValue.Create(i.Count)))),
        }).ToArray()),
    };

    /// <summary>A resting bid (GTC at one fen: below every ask) or a quote that a seeded pool can fill.</summary>
    public static JsonObject BidBody(World w, string? voucherId, bool resting) => new()
    {
        ["gpuModel"] = World.ModelOfP,
        ["gpuCount"] = 1,
        ["durationHours"] = 2,
        ["earliestStart"] = Time(w.Hour(1)),
        ["latestStart"] = Time(w.Hour(48)),
        ["maxFenPerGpuHour"] = resting ? 1 : 2_000,
        ["allowedProvinces"] = new JsonArray("Gansu"),
        ["voucherId"] = voucherId,
        ["timeInForce"] = resting ? "GTC" : "IOC",
        ["goodUntil"] = resting ? Time(w.Now.AddDays(2)) : null,
    };

    public static JsonObject OutageBody(World w, string? siteId) => new()
    {
        ["siteId"] = siteId,
        ["from"] = Time(w.Hour(200)),
        ["to"] = Time(w.Hour(202)),
        ["reason"] = "cooling maintenance",
    };
}
