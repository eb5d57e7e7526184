using System.Text;
using System.Text.Json.Nodes;
using Marketplace.Web.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace Marketplace.Security.Tests;

/// <summary>One generated request. <see cref="MustBeRefused"/>: it carries at least one defect the API must refuse.</summary>
public sealed record FuzzRequest(
    int Index,
    string Endpoint,
    string Mutations,
    bool MustBeRefused,
    string Method,
    string Url,
    string? Authorization,
    byte[]? Body,
    string? ContentType,
    IReadOnlyList<KeyValuePair<string, string>> Headers,
    byte[]? RawHttp = null)
{
    public override string ToString() => $"#{Index} {Method} {Shorten(Url)} [{Mutations}] body {Shorten(Body is null ? "-" : Encoding.UTF8.GetString(Body))}";

    private static string Shorten(string s) => s.Length > 200 ? s[..200] + $"…({s.Length})" : s;
}

/// <summary>
/// Generates malformed and hostile requests from the catalog's valid ones, seeded so a run can be repeated. A request to
/// an endpoint that changes something always carries a defect from <see cref="Poison"/>, each of which the API must
/// refuse whatever the rest of the request says; on top of that, and on read-only endpoints alone, it may carry hostile
/// content that is allowed (SQL and script fragments in free text, unknown properties, junk query parameters).
/// </summary>
public sealed class FuzzGenerator
{
    private enum Kind
    {
        Id,
        OptionalId,
        Text,
        OptionalText,
        Province,
        ProvinceList,
        CreditCode,
        GpuModel,
        Enum,
        EnumList,
        Date,
        Integer,
        OptionalInteger,
        Decimal,
        Bool,
        Sites,
    }

    private sealed record Rule(Kind Kind, long Min = 0, long Max = 0);

    /// <summary>What each body field is, by name (names mean the same on every endpoint).</summary>
    private static readonly Dictionary<string, Rule> Fields = new(StringComparer.Ordinal)
    {
        ["id"] = new(Kind.Id),
        ["batchId"] = new(Kind.Id),
        ["siteId"] = new(Kind.Id),
        ["voucherId"] = new(Kind.OptionalId),
        ["programId"] = new(Kind.OptionalId),
        ["poolId"] = new(Kind.OptionalId),
        ["outageId"] = new(Kind.OptionalId),
        ["tenantId"] = new(Kind.OptionalId),
        ["providerId"] = new(Kind.OptionalId),
        ["name"] = new(Kind.Text, 1, 200),
        ["issuer"] = new(Kind.Text, 1, 200),
        ["city"] = new(Kind.Text, 1, 100),
        ["title"] = new(Kind.Text, 1, 200),
        ["description"] = new(Kind.Text, 1, 4000),
        ["reason"] = new(Kind.Text, 1, 500),
        ["assumptions"] = new(Kind.OptionalText, 0, 2000),
        ["province"] = new(Kind.Province),
        ["allowedProvinces"] = new(Kind.ProvinceList),
        ["preferredProvinces"] = new(Kind.ProvinceList),
        ["creditCode"] = new(Kind.CreditCode),
        ["gpuModel"] = new(Kind.GpuModel),
        ["kind"] = new(Kind.Enum),
        ["timeInForce"] = new(Kind.Enum),
        ["role"] = new(Kind.Enum),
        ["allowedTenantKinds"] = new(Kind.EnumList),
        ["claimOpensAt"] = new(Kind.Date),
        ["claimClosesAt"] = new(Kind.Date),
        ["effectiveFrom"] = new(Kind.Date),
        ["from"] = new(Kind.Date),
        ["to"] = new(Kind.Date),
        ["earliestStart"] = new(Kind.Date),
        ["latestStart"] = new(Kind.Date),
        ["goodUntil"] = new(Kind.Date),
        ["budgetFen"] = new(Kind.Integer, 1, 1_000_000_000_000),
        ["voucherCapFen"] = new(Kind.Integer, 1, 1_000_000_000_000),
        ["amountFen"] = new(Kind.OptionalInteger, 1, 1_000_000_000_000),
        ["coverageBasisPoints"] = new(Kind.Integer, 1, 10_000),
        ["registrationDeadlineDays"] = new(Kind.Integer, 1, 365),
        ["validityDays"] = new(Kind.Integer, 1, 3650),
        ["plannedGpuHours"] = new(Kind.Integer, 1, 1_000_000),
        ["gpuCount"] = new(Kind.Integer, 1, 100_000), // pools take up to 100,000; bids fewer
        ["askFenPerGpuHour"] = new(Kind.Integer, 1, 100_000_000),
        ["maxFenPerGpuHour"] = new(Kind.Integer, 1, 100_000_000),
        ["durationHours"] = new(Kind.Integer, 1, 336),
        ["greenPowerPercent"] = new(Kind.Integer, 0, 100),
        ["withinBasisPoints"] = new(Kind.Integer, 0, 5_000),
        ["latitude"] = new(Kind.Decimal, 3, 54),
        ["longitude"] = new(Kind.Decimal, 73, 136),
        ["stackable"] = new(Kind.Bool),
        ["allowMultipleOpenVouchers"] = new(Kind.Bool),
        ["sites"] = new(Kind.Sites),
    };

    /// <summary>SQL, script, template and path fragments, odd Unicode: hostile, but a free-text field may carry them.</summary>
    private static readonly string[] HostileText =
    [
        "' OR '1'='1", "'; DROP TABLE bids; --", "\"; DELETE FROM vouchers WHERE ''='", "1; SELECT pg_sleep(5); --", "$$ LANGUAGE plpgsql $$",
        "admin'--", "') OR 1=1 UNION SELECT * FROM audit_log --", "<script>alert(1)</script>", "\"><img src=x onerror=alert(document.cookie)>",
        "javascript:alert(1)", "{{7*7}}", "${jndi:ldap://127.0.0.1/x}", "../../../../etc/passwd", "%00", "%27%20OR%201=1", "北京算力中心",
        "\u202Egnp.exe", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 🚀", "Ω≈ç√∫", "null", "undefined", "NaN", "-0", "0x7fffffff", "1e309", "__proto__",
    ];

    /// <summary>Values no id accepts (ids are 1-64 letters, digits, '.', '_' and '-', starting with a letter or digit).</summary>
    private static readonly string[] BadIds =
    [
        "' OR '1'='1", "'; DROP TABLE vouchers; --", "<script>alert(1)</script>", "a b", "-starts-with-dash", ".hidden", "北京",
        "id\u0000null", "tab\there", new string('x', 65), new string('9', 300), "x/../y", "%2e%2e", "id;rm -rf", "😀",
    ];

    private readonly World _world;
    private readonly Random _random;
    private readonly IReadOnlyDictionary<Role, string> _tokens;
    private readonly string[] _badAuthorizations;

    public FuzzGenerator(World world, AuthSettings settings, int seed)
    {
        _world = world;
        _random = new Random(seed);
        _tokens = Enum.GetValues<Role>().Where(r => r != Role.Anonymous).ToDictionary(r => r, world.Token);
        var now = TimeProvider.System.GetUtcNow();
        var other = new AuthSettings { SigningKey = "an-attackers-own-signing-key-0123456789abcdef", Issuer = settings.Issuer };
        var foreignIssuer = new AuthSettings { SigningKey = settings.SigningKey, Issuer = "someone-else" };
        _badAuthorizations =
        [
            "Bearer not-a-token",
            "Bearer " + new TokenIssuer(other, TimeProvider.System).Issue(Names.Roles.Admin, null, null),
            "Bearer " + new TokenIssuer(foreignIssuer, TimeProvider.System).Issue(Names.Roles.Admin, null, null),
            "Bearer " + new TokenIssuer(settings, new FakeTimeProvider(now.AddDays(-30))).Issue(Names.Roles.Admin, null, null),
            "Bearer " + Unsigned(settings.Issuer, now),
            "Bearer " + Truncated(world.Token(Role.Admin)),
            "Basic YWRtaW46YWRtaW4=",
            "Bearer",
            "bearer " + new string('A', 5000),
        ];
    }

    public async Task<FuzzRequest> NextAsync(int index, EndpointCase endpoint)
    {
        var call = await endpoint.Build(_world, endpoint.Owner, Target.Mine, false);
        var draft = new Draft(call, _tokens.GetValueOrDefault(endpoint.Owner));
        var mutations = new List<string>();
        var poisoned = false;
        if (endpoint.Mutates)
        {
            // Usually one defect; sometimes a second.
            var count = _random.Next(4) == 0 ? 2 : 1;
            for (var i = 0; i < count; i++)
            {
                mutations.Add(await Poison(endpoint, draft));
            }
            poisoned = true;
            if (_random.Next(2) == 0)
            {
                mutations.Add(Noise(endpoint, draft));
            }
        }
        else
        {
            var count = 1 + _random.Next(3);
            for (var i = 0; i < count; i++)
            {
                mutations.Add(_random.Next(3) == 0 ? Noise(endpoint, draft) : await Poison(endpoint, draft));
            }
        }
        return draft.ToRequest(index, endpoint.Key, string.Join("; ", mutations), poisoned);
    }

    // ---- defects: every one of these must be refused ----------------------------------------------------------------

    private async Task<string> Poison(EndpointCase endpoint, Draft draft)
    {
        var options = new List<Func<Task<string>>>();
        var api = endpoint.Pattern.StartsWith("/api/", StringComparison.Ordinal) && endpoint.Pattern != "/api/v1/auth/dev-token";
        if (api)
        {
            options.Add(() => Task.FromResult(BadAuthorization(endpoint, draft)));
        }
        if (draft.Json is JsonObject body && draft.RawBody is null)
        {
            var fields = body.Select(p => p.Key).Where(Fields.ContainsKey).ToList();
            options.Add(() => Task.FromResult(BadField(draft, body, fields)));
            options.Add(() => Task.FromResult(BadField(draft, body, fields)));
            options.Add(() => Task.FromResult(BadField(draft, body, fields)));
            options.Add(() => Task.FromResult(MissingField(draft, body, fields)));
            options.Add(() => Task.FromResult(MalformedBody(draft)));
            options.Add(() => Task.FromResult(WrongContentType(draft)));
            options.Add(() => Task.FromResult(Oversized(draft)));
        }
        if (endpoint.Owned)
        {
            options.Add(async () =>
            {
                var theirs = await endpoint.Build(_world, endpoint.Owner, Target.Theirs, false);
                draft.Route = new Dictionary<string, string>(theirs.Route);
                if (theirs.Body is not null && draft.RawBody is null)
                {
                    draft.Json = theirs.Body;
                }
                draft.Poisoned.UnionWith(draft.Route.Keys.Select(k => "route:" + k));
                draft.Poisoned.Add("voucherId");
                return "another's resource";
            });
        }
        if (draft.Route.Count > 0 && endpoint.Mutates || draft.Route.Count > 0 && api)
        {
            options.Add(() => Task.FromResult(BadRouteValue(endpoint, draft)));
        }
        if (endpoint.Pattern == "/api/v1/programs/{id}/providers/{providerId}" && endpoint.Method == "DELETE")
        {
            options.Add(() => Task.FromResult(BadNoticeQuery(draft)));
        }
        if (draft.IdempotencyKey is not null)
        {
            options.Add(() => Task.FromResult(BadIdempotencyKey(draft)));
        }
        if (options.Count == 0)
        {
            // Infrastructure endpoints: junk is all one can send them.
            return Noise(endpoint, draft);
        }
        return await options[_random.Next(options.Count)]();
    }

    private string BadAuthorization(EndpointCase endpoint, Draft draft)
    {
        var refusedRoles = Enum.GetValues<Role>().Where(r => r != Role.Anonymous && endpoint.Expected(r, Target.Mine) is 401 or 403).ToList();
        switch (_random.Next(3))
        {
            case 0:
                draft.Authorization = null;
                return "no token";
            case 1 when refusedRoles.Count > 0:
                var role = refusedRoles[_random.Next(refusedRoles.Count)];
                draft.Authorization = "Bearer " + _tokens[role];
                return $"token of a {role}";
            default:
                draft.Authorization = _badAuthorizations[_random.Next(_badAuthorizations.Length)];
                return $"bad token {Shorten(draft.Authorization, 30)}";
        }
    }

    private string BadField(Draft draft, JsonObject body, List<string> fields)
    {
        if (fields.Count == 0)
        {
            return MalformedBody(draft);
        }
        var name = fields[_random.Next(fields.Count)];
        var rule = Fields[name];
        // A field the template leaves null may be one the endpoint ignores: only a value of the wrong type is sure to be refused.
        var (value, description) = _random.Next(4) == 0 || draft.NullInTemplate.Contains(name) ? WrongType(rule) : Invalid(rule, body[name]);
        body[name] = value;
        draft.Poisoned.Add(name);
        return $"{name} = {description}";
    }

    private (JsonNode? Value, string Description) WrongType(Rule rule)
    {
        JsonNode?[] choices = rule.Kind switch
        {
            Kind.Integer or Kind.OptionalInteger or Kind.Decimal => [JsonValue.Create("12"), JsonValue.Create(true), new JsonObject(), new JsonArray(1)],
            Kind.Bool => [JsonValue.Create("true"), JsonValue.Create(1), new JsonArray()],
            Kind.ProvinceList or Kind.EnumList or Kind.Sites => [JsonValue.Create("Gansu"), JsonValue.Create(7), new JsonObject { ["a"] = 1 }],
            _ => [JsonValue.Create(12345), JsonValue.Create(false), new JsonObject { ["$ne"] = null }, new JsonArray("a", "b")],
        };
        var value = choices[_random.Next(choices.Length)];
        return (value, $"wrong type {value?.ToJsonString()}");
    }

    private (JsonNode? Value, string Description) Invalid(Rule rule, JsonNode? current)
    {
        JsonNode? value = rule.Kind switch
        {
            Kind.Id => JsonValue.Create(Pick([.. BadIds, ""])),
            Kind.OptionalId => JsonValue.Create(Pick(BadIds)),
            Kind.Text => JsonValue.Create(Pick([new string('x', (int)rule.Max + 1 + _random.Next(50)), "", "   ", "bell\u0007", "nul\u0000byte", "two\nlines", "esc\u001b[31m"])),
            Kind.OptionalText => JsonValue.Create(Pick([new string('y', (int)rule.Max + 1), "nul\u0000byte", "\u0085next-line"])),
            Kind.Province => JsonValue.Create(Pick(["Atlantis", "beijing", "<script>alert(1)</script>", "Beijing' --", "北京", "", "Gansu\u0000"])),
            Kind.ProvinceList => new JsonArray(JsonValue.Create(Pick(["Atlantis", "", "' OR 1=1", "Gansu "]))),
            Kind.CreditCode => JsonValue.Create(BadCreditCode(current is JsonValue v && v.TryGetValue<string>(out var code) ? code : null)),
            Kind.GpuModel => JsonValue.Create(Pick(["H100-80G", "h800-80g", "H800-80G\u0000", "' OR ''='", "", "H800-80G; DROP TABLE pools"])),
            Kind.Enum => JsonValue.Create(Pick(["Administrator", "1", "0", "-1", "", "Sme,StartupTeam", "Ioc,Gtc", "sme;drop", "Gtc\u0000"])),
            Kind.EnumList => Pick<JsonNode>([new JsonArray(), new JsonArray("Alien"), new JsonArray("Sme", "1"), new JsonArray("Sme,StartupTeam")]),
            Kind.Date => JsonValue.Create(Pick(["2026-02-30T00:00:00Z", "not a date", "", "2026-11-23T25:00:00Z", "9999-99-99", "0000-00-00T00:00:00Z",
                "2026-11-23T00:00:00+25:00", "1e10"])),
            Kind.Integer or Kind.OptionalInteger => Pick<JsonNode?>([JsonValue.Create(rule.Min - 1), JsonValue.Create(rule.Max + 1), JsonValue.Create(long.MinValue),
                JsonValue.Create(long.MaxValue), JsonNode.Parse("9223372036854775808"), JsonNode.Parse("-99999999999999999999999"), JsonValue.Create(1.5),
                JsonNode.Parse("1e400"), JsonValue.Create(-1_000_000)]),
            Kind.Decimal => Pick<JsonNode?>([JsonValue.Create((double)rule.Min - 0.5), JsonValue.Create((double)rule.Max + 0.5), JsonValue.Create(-1e300),
                JsonNode.Parse("1e400"), JsonValue.Create("36.0")]),
            Kind.Bool => JsonValue.Create(Pick(["yes", "1", ""])),
            Kind.Sites => Pick<JsonNode>([new JsonArray(), new JsonArray(new JsonObject()), new JsonArray(JsonValue.Create("site-1")),
                new JsonArray(Enumerable.Range(0, 101).Select(_ => (JsonNode)new JsonObject { ["siteId"] = "s" }).ToArray())]),
            _ => JsonValue.Create(12345),
        };
        return (value, Shorten(value?.ToJsonString() ?? "null", 60));
    }

    private static string BadCreditCode(string? valid)
    {
        if (valid is not { Length: 18 })
        {
            return "9111000000000000OI"; // O and I are not in the alphabet
        }
        const string alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY";
        var wrongCheck = alphabet[(alphabet.IndexOf(valid[17], StringComparison.Ordinal) + 1) % alphabet.Length];
        return valid[..17] + wrongCheck;
    }

    private string MissingField(Draft draft, JsonObject body, List<string> fields)
    {
        // Only fields the API requires; an optional field may rightly be left out.
        var required = fields.Where(f => Fields[f].Kind is not (Kind.OptionalId or Kind.OptionalText or Kind.OptionalInteger or Kind.Bool or Kind.ProvinceList)
            && !draft.NullInTemplate.Contains(f)).ToList();
        if (required.Count == 0)
        {
            var only = fields.FirstOrDefault();
            if (only is null)
            {
                body["gpuModel"] = 1;
                return "gpuModel = 1";
            }
            var (value, description) = WrongType(Fields[only]);
            body[only] = value;
            draft.Poisoned.Add(only);
            return $"{only} = {description}";
        }
        var name = required[_random.Next(required.Count)];
        body.Remove(name);
        draft.Poisoned.Add(name);
        return $"missing {name}";
    }

    private string MalformedBody(Draft draft)
    {
        var json = draft.Json?.ToJsonString() ?? "{}";
        byte[] bytes;
        string description;
        switch (_random.Next(12))
        {
            case 0:
                bytes = Encoding.UTF8.GetBytes(json[..Math.Max(1, json.Length / 2)]);
                description = "truncated JSON";
                break;
            case 1:
                bytes = Encoding.UTF8.GetBytes(json.Insert(json.Length - 1, ","));
                description = "trailing comma";
                break;
            case 2:
                bytes = Encoding.UTF8.GetBytes(json.Replace('"', '\''));
                description = "single quotes";
                break;
            case 3:
                bytes = Encoding.UTF8.GetBytes("// comment\n" + json);
                description = "comment";
                break;
            case 4:
                bytes = Encoding.UTF8.GetBytes(json + " {\"extra\": true}");
                description = "two documents";
                break;
            case 5:
                bytes = [.. "{\"name\":\""u8, 0xFF, 0xFE, 0xC0, 0xAF, .. "\"}"u8];
                description = "invalid UTF-8 in a string";
                break;
            case 6:
                bytes = [0xFF, 0xFE, .. Encoding.Unicode.GetBytes(json)];
                description = "UTF-16 with a byte-order mark";
                break;
            case 7:
                var depth = Pick([33, 64, 1000, 20_000]);
                bytes = Encoding.UTF8.GetBytes(new string('[', depth) + new string(']', depth));
                description = $"arrays nested {depth} deep";
                break;
            case 8:
                var nested = Pick([40, 200]);
                var deep = new StringBuilder();
                for (var i = 0; i < nested; i++)
                {
                    deep.Append("{\"a\":");
                }
                deep.Append('1').Append('}', nested);
                bytes = Encoding.UTF8.GetBytes(json.Insert(1, $"\"deep\":{deep},"));
                description = $"an object nested {nested} deep inside the body";
                break;
            case 9:
                var top = Pick(["[]", "\"just a string\"", "12345", "true", "[{\"id\":1}]"]);
                bytes = Encoding.UTF8.GetBytes(top);
                description = $"top-level {top}";
                break;
            case 10:
                bytes = Encoding.UTF8.GetBytes(json.Replace(":", ": NaN, \"x\":", StringComparison.Ordinal));
                description = "NaN literals";
                break;
            default:
                // An escaped lone surrogate in a field the API reads (an unknown property would be skipped unread).
                var text = (draft.Json as JsonObject)?.FirstOrDefault(p => Fields.TryGetValue(p.Key, out var r) && r.Kind is Kind.Text or Kind.Id or Kind.GpuModel
                    or Kind.Province or Kind.CreditCode or Kind.Enum or Kind.Date).Key;
                if (text is null)
                {
                    bytes = Encoding.UTF8.GetBytes("\"\\ud800\"");
                    description = "a lone surrogate as the body";
                    break;
                }
                var marked = draft.Json!.DeepClone().AsObject();
                marked[text] = "\u0001SURROGATE\u0001";
                bytes = Encoding.UTF8.GetBytes(marked.ToJsonString().Replace("\\u0001SURROGATE\\u0001", "\\ud800", StringComparison.Ordinal));
                description = $"escaped lone surrogate in {text}";
                break;
        }
        draft.RawBody = bytes;
        return description;
    }

    private string WrongContentType(Draft draft)
    {
        draft.ContentType = Pick(["text/plain", "application/xml", "application/x-www-form-urlencoded", "multipart/form-data; boundary=xyz", "",
            "application/json-patch+json; charset=ebcdic"]);
        return $"content type '{draft.ContentType}'";
    }

    private string Oversized(Draft draft)
    {
        var size = (int)Marketplace.Web.WebSetup.MaxRequestBodyBytes + 1 + _random.Next(64 * 1024);
        var json = draft.Json as JsonObject ?? [];
        json["padding"] = new string('p', size);
        return $"body of {size} bytes";
    }

    private string BadRouteValue(EndpointCase endpoint, Draft draft)
    {
        var names = draft.Route.Keys.ToList();
        var name = names[_random.Next(names.Count)];
        var value = _random.Next(8) switch
        {
            0 => "raw:%FF%FE",
            1 => "raw:%C3%28",
            2 => "raw:%ED%A0%80",
            3 => "raw:%00",
            4 => "unknown-" + _random.Next(1_000_000),
            5 => new string('z', 3000),
            _ => Pick(BadIds),
        };
        if (endpoint.Pattern.StartsWith("/api/v1/providers/{id}", StringComparison.Ordinal) && name == "id" && _random.Next(3) == 0)
        {
            value = _world.ProviderQ; // another provider's id with the caller's own pool
        }
        draft.Route[name] = value;
        draft.Poisoned.Add("route:" + name);
        return $"{name} = {Shorten(value, 40)}";
    }

    private string BadNoticeQuery(Draft draft)
    {
        var query = draft.Query;
        draft.Poisoned.Add("query");
        switch (_random.Next(4))
        {
            case 0:
                query.Remove("batchId");
                return "no batchId";
            case 1:
                query["batchId"] = Pick(BadIds);
                return "bad batchId";
            case 2:
                query["effectiveFrom"] = Pick(["yesterday", "2026-02-30", "' OR 1=1"]);
                return "bad effectiveFrom";
            default:
                query.Remove("effectiveFrom");
                return "no effectiveFrom";
        }
    }

    private string BadIdempotencyKey(Draft draft)
    {
        draft.IdempotencyKey = Pick([new string('k', 101 + _random.Next(1000)), "has space", "tab\tkey", "del\u007fkey"]);
        draft.Poisoned.Add("key");
        return $"Idempotency-Key '{Shorten(draft.IdempotencyKey, 20)}'";
    }

    // ---- hostile content that may be allowed -----------------------------------------------------------------------

    private string Noise(EndpointCase endpoint, Draft draft)
    {
        switch (_random.Next(7))
        {
            case 6 when draft.Json is JsonObject body && draft.RawBody is null:
                var dates = body.Where(p => Fields.TryGetValue(p.Key, out var r) && r.Kind == Kind.Date && !draft.Poisoned.Contains(p.Key)).Select(p => p.Key).ToList();
                if (dates.Count > 0)
                {
                    var name = dates[_random.Next(dates.Count)];
                    body[name] = Pick(["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "9999-12-31T23:59:59-14:00", "1970-01-01T00:00:00+14:00",
                        "2026-11-23T02:10:00.9999999Z"]);
                    return $"{name} = extreme date";
                }
                goto default;
            case 0 when draft.Json is JsonObject body && draft.RawBody is null:
                var texts = body.Where(p => Fields.TryGetValue(p.Key, out var r) && r.Kind is Kind.Text or Kind.OptionalText && !draft.Poisoned.Contains(p.Key))
                    .Select(p => p.Key).ToList();
                if (texts.Count > 0)
                {
                    var name = texts[_random.Next(texts.Count)];
                    body[name] = Pick(HostileText);
                    return $"{name} = hostile text";
                }
                body["note"] = Pick(HostileText);
                return "unknown property";
            case 1 when draft.Json is JsonObject body && draft.RawBody is null:
                // Mass assignment: the caller's identity comes from the token, never from the body.
                foreach (var (name, value) in new (string, JsonNode)[] { ("tenantId", _world.TenantB), ("providerId", _world.ProviderQ), ("role", "admin"), ("isAdmin", true) })
                {
                    if (!draft.Poisoned.Contains(name))
                    {
                        body[name] = value;
                    }
                }
                return "identity in the body";
            case 2:
                draft.Query["tenantId"] = _world.TenantB;
                draft.Query[Pick(["page", "pageSize", "debug", "$where", "callback"])] = Pick(["-1", "0", "abc", "99999999999", "' OR 1=1", "<script>"]);
                return "junk query";
            case 3:
                draft.Headers.Add(new(Pick(["X-Tenant-Id", "X-Forwarded-For", "X-HTTP-Method-Override", "X-Original-URL", "X-Role"]),
                    Pick([_world.TenantB, "127.0.0.1", "DELETE", "/api/v1/audit", "admin"])));
                return "spoofing header";
            case 4 when endpoint.Pattern.Contains("{id}", StringComparison.Ordinal) && !endpoint.Mutates && !draft.Poisoned.Contains("route:id"):
                draft.Route["id"] = Pick(["raw:%FF", "raw:%00", "' OR '1'='1", _world.VoucherB.Id, _world.FilledBidB.Id, _world.ReservationB, _world.ProviderQ]);
                return "hostile id";
            default:
                if (draft.IdempotencyKey is not null && !draft.Poisoned.Contains("key"))
                {
                    draft.IdempotencyKey = Pick(["'; DROP TABLE idempotency_keys; --", "<script>", "../../key", "KEY-" + _random.Next()]);
                    return "hostile but valid Idempotency-Key";
                }
                draft.Query["q"] = Pick(HostileText);
                return "hostile query";
        }
    }

    // ---- helpers --------------------------------------------------------------------------------------------------

    private T Pick<T>(IReadOnlyList<T> choices) => choices[_random.Next(choices.Count)];

    private static string Shorten(string s, int length) => s.Length > length ? s[..length] + "…" : s;

    /// <summary>A token with "alg": "none": no signature at all.</summary>
    private static string Unsigned(string issuer, DateTimeOffset now)
    {
        static string Encode(string json) => Convert.ToBase64String(Encoding.UTF8.GetBytes(json)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        var exp = now.AddHours(1).ToUnixTimeSeconds();
        return Encode("{\"alg\":\"none\",\"typ\":\"JWT\"}") + "." +
            Encode($"{{\"sub\":\"mallory\",\"role\":\"admin\",\"iss\":\"{issuer}\",\"aud\":\"{issuer}\",\"exp\":{exp}}}") + ".";
    }

    /// <summary>A real token with its signature cut short.</summary>
    private static string Truncated(string token) => token[..^5];

    /// <summary>A request being mutated.</summary>
    private sealed class Draft(Call call, string? token)
    {
        public string Method { get; } = call.Method;
        public string Pattern { get; } = call.Pattern;
        public Dictionary<string, string> Route { get; set; } = new(call.Route);
        public Dictionary<string, string> Query { get; } = new(call.Query);
        public JsonNode? Json { get; set; } = call.Body?.DeepClone();
        public byte[]? RawBody { get; set; }
        public string? ContentType { get; set; } = call.Body is null ? null : "application/json";
        public string? IdempotencyKey { get; set; } = call.IdempotencyKey;
        public string? Authorization { get; set; } = token is null ? null : "Bearer " + token;
        public List<KeyValuePair<string, string>> Headers { get; } = [];

        /// <summary>What a defect was put in (a field, "route:x", "query", "key"): hostile noise must leave it alone.</summary>
        public HashSet<string> Poisoned { get; } = new(StringComparer.Ordinal);

        /// <summary>Fields the valid request leaves null: the endpoint may ignore them.</summary>
        public HashSet<string> NullInTemplate { get; } = call.Body is JsonObject o ? o.Where(p => p.Value is null).Select(p => p.Key).ToHashSet(StringComparer.Ordinal) : [];

        public FuzzRequest ToRequest(int index, string endpoint, string mutations, bool mustBeRefused)
        {
            var path = Pattern;
            foreach (var (name, value) in Route)
            {
                var encoded = value.StartsWith("raw:", StringComparison.Ordinal) ? value[4..] : Uri.EscapeDataString(value);
                path = path.Replace($"{{{name}?}}", encoded, StringComparison.Ordinal).Replace($"{{{name}}}", encoded, StringComparison.Ordinal);
            }
            if (path.Length > 1 && path.EndsWith('/'))
            {
                path = path[..^1];
            }
            var url = Query.Count == 0 ? path : path + "?" + string.Join("&", Query.Select(q => $"{Uri.EscapeDataString(q.Key)}={Uri.EscapeDataString(q.Value)}"));
            var body = RawBody ?? (Json is null ? null : Encoding.UTF8.GetBytes(Json.ToJsonString()));
            var headers = new List<KeyValuePair<string, string>>(Headers);
            if (IdempotencyKey is not null)
            {
                headers.Add(new(Names.Headers.IdempotencyKey, IdempotencyKey));
            }
            return new FuzzRequest(index, endpoint, mutations, mustBeRefused, Method, url, Authorization, body, body is null ? null : ContentType, headers);
        }
    }
}
