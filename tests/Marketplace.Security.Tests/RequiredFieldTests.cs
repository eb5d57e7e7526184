using System.Net;
using System.Text.Json.Nodes;
using Marketplace.Testing;
using Xunit;
using Xunit.Abstractions;

namespace Marketplace.Security.Tests;

/// <summary>
/// The API document says exactly which request fields are required, and the API agrees: for every operation with a JSON
/// body, the body the matrix sends as the owner is sent again without each field the document lists as required (422, the
/// field named "is required"), and once with nothing but the required fields (never refused for a missing field).
/// </summary>
[Collection(MatrixCollection.Name)]
public sealed class RequiredFieldTests(MatrixCluster web, ITestOutputHelper output)
{
    private const string RequiredMessage = "is required";

    /// <summary>
    /// Required fields of optional nested objects the matrix's bodies leave out, so they are not sent here: the evidence
    /// verification's known seal (its body names a programme only).
    /// </summary>
    private static readonly string[] NotInTheMatrixBodies = ["POST /api/v1/evidence/verify head.sequence", "POST /api/v1/evidence/verify head.hash"];

    [Fact]
    public async Task Every_required_field_of_the_document_is_refused_when_missing_and_a_body_of_only_required_fields_misses_none()
    {
        var world = await web.WorldAsync();
        using var anonymous = world.Client(Role.Anonymous);
        var document = JsonNode.Parse(await anonymous.GetStringAsync("/openapi/v1.json"))!.AsObject();
        var schemas = document["components"]!["schemas"]!.AsObject();

        var failures = new List<string>();
        var checkedFields = new List<string>();
        var skipped = new List<string>();
        var operations = 0;
        foreach (var (path, item) in document["paths"]!.AsObject())
        {
            foreach (var (method, operation) in item!.AsObject())
            {
                if (operation?["requestBody"]?["content"]?["application/json"]?["schema"] is not { } bodySchema)
                {
                    continue;
                }
                var what = $"{method.ToUpperInvariant()} {path}";
                var endpoint = Catalog.All.SingleOrDefault(c => c.Method == method.ToUpperInvariant() && c.Pattern.TrimEnd('/') == path);
                Assert.True(endpoint is not null, $"{what} takes a body but is not in the catalog");
                operations++;
                var call = await endpoint.Build(world, endpoint.Owner, Target.Mine, true);
                var body = call.Body!.AsObject();
                var schema = Resolve(bodySchema, schemas)!;
                using var client = world.Client(endpoint.Owner);

                foreach (var (field, parent, name) in RequiredFields(body, schema, schemas, ""))
                {
                    if (parent is null)
                    {
                        skipped.Add($"{what} {field}");
                        continue;
                    }
                    var without = body.DeepClone().AsObject();
                    Locate(without, parent).Remove(name);
                    var errors = await SendAsync(client, call with { Body = without, IdempotencyKey = Key(call) });
                    checkedFields.Add($"{what} {field}");
                    if (errors is null || !errors.TryGetValue(field, out var messages) || !messages.Contains(RequiredMessage))
                    {
                        failures.Add($"{what} without {field}: expected 422 with {field} \"{RequiredMessage}\", got {Describe(errors)}");
                    }
                }

                var onlyRequired = OnlyRequired(body, schema, schemas);
                var refusal = await SendAsync(client, call with { Body = onlyRequired, IdempotencyKey = Key(call) });
                var missing = refusal?.Where(e => e.Value.Contains(RequiredMessage)).Select(e => e.Key).ToList() ?? [];
                if (missing.Count > 0)
                {
                    failures.Add($"{what} with only its required fields {onlyRequired.ToJsonString()}: refused as missing {string.Join(", ", missing)}, "
                        + "which the document does not list as required");
                }
            }
        }

        output.WriteLine($"{operations} operations with a body; {checkedFields.Count} required fields left out one at a time:");
        output.WriteLine(string.Join("\n", checkedFields));
        Assert.True(failures.Count == 0, string.Join("\n", failures));
        Assert.Equal(NotInTheMatrixBodies, skipped);
        // Every body the API takes, and a required field of each that has any, was tried.
        Assert.Equal(Catalog.All.Count(c => c.Method is "POST" or "PUT" or "PATCH" && c.Pattern.StartsWith("/api/", StringComparison.Ordinal)
            && !NoJsonBody.Contains(c.Key)), operations);
        Assert.Contains("POST /api/v1/providers sites[0].siteId", checkedFields);
        Assert.Contains("POST /api/v1/bids earliestStart", checkedFields);
    }

    /// <summary>Endpoints the catalog calls with POST that take no JSON body.</summary>
    private static readonly HashSet<string> NoJsonBody = new(StringComparer.Ordinal)
    {
        "POST /api/v1/auth/session", "POST /api/v1/companies/{party}/{id}/verify", "POST /api/v1/providers/{id}/outages/{outageId}/end",
        "POST /api/v1/reservations/{id}/cancel",
    };

    private static string? Key(Call call) => call.IdempotencyKey is null ? null : Scenario.Unique("key");

    /// <summary>The field errors of a 422 answer; null for any other answer.</summary>
    private static async Task<IReadOnlyDictionary<string, string[]>?> SendAsync(HttpClient client, Call call)
    {
        using var response = await client.SendAsync(call);
        Assert.True((int)response.StatusCode < 500 && response.StatusCode != HttpStatusCode.BadRequest,
            $"{call.Method} {call.Url} {call.Body?.ToJsonString()}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        return response.StatusCode == HttpStatusCode.UnprocessableEntity ? (await response.Problem()).Errors() : null;
    }

    private static string Describe(IReadOnlyDictionary<string, string[]>? errors) => errors is null ? "no 422"
        : "422 " + string.Join("; ", errors.Select(e => $"{e.Key}: {string.Join(", ", e.Value)}"));

    /// <summary>
    /// The required fields of a body by their path in field errors ("sites[0].siteId"), with the path of the object holding
    /// each in the body (null when the body has no such object) and the field's own name.
    /// </summary>
    private static IEnumerable<(string Field, string? Parent, string Name)> RequiredFields(JsonObject? body, JsonObject schema, JsonObject schemas, string prefix)
    {
        var required = schema["required"]?.AsArray().Select(n => n!.GetValue<string>()).ToHashSet(StringComparer.Ordinal) ?? [];
        foreach (var (name, property) in schema["properties"]?.AsObject() ?? [])
        {
            if (required.Contains(name))
            {
                yield return (prefix + name, body is null ? null : prefix, name);
            }
            var value = body?[name];
            if (Resolve(property!, schemas) is { } nested && nested["properties"] is not null)
            {
                foreach (var inner in RequiredFields(value as JsonObject, nested, schemas, $"{prefix}{name}."))
                {
                    yield return inner;
                }
            }
            else if (property!["items"] is { } items && Resolve(items, schemas) is { } element && element["properties"] is not null)
            {
                foreach (var inner in RequiredFields((value as JsonArray)?.FirstOrDefault() as JsonObject, element, schemas, $"{prefix}{name}[0]."))
                {
                    yield return inner;
                }
            }
        }
    }

    /// <summary>The body with only its required fields, in nested objects and list items too.</summary>
    private static JsonObject OnlyRequired(JsonObject body, JsonObject schema, JsonObject schemas)
    {
        var required = schema["required"]?.AsArray().Select(n => n!.GetValue<string>()).ToHashSet(StringComparer.Ordinal) ?? [];
        var kept = new JsonObject();
        foreach (var (name, value) in body)
        {
            if (!required.Contains(name))
            {
                continue;
            }
            var property = schema["properties"]![name]!;
            kept[name] = value switch
            {
                JsonObject inner when Resolve(property, schemas) is { } nested && nested["properties"] is not null => OnlyRequired(inner, nested, schemas),
                JsonArray list when property["items"] is { } items && Resolve(items, schemas) is { } element && element["properties"] is not null =>
                    new JsonArray(list.Select(i => (JsonNode?)OnlyRequired(i!.AsObject(), element, schemas)).ToArray()),
                _ => value?.DeepClone(),
            };
        }
        return kept;
    }

    /// <summary>A schema with its reference followed (and a nullable reference's "oneOf": [null, $ref] read as the reference).</summary>
    private static JsonObject? Resolve(JsonNode schema, JsonObject schemas)
    {
        if (schema["$ref"]?.GetValue<string>() is { } reference)
        {
            return schemas[reference.Split('/')[^1]]!.AsObject();
        }
        if (schema["oneOf"]?.AsArray().FirstOrDefault(s => s?["$ref"] is not null) is { } option)
        {
            return Resolve(option, schemas);
        }
        return schema as JsonObject;
    }

    /// <summary>The object at a field-error path prefix ("" is the body, "sites[0]." its first site).</summary>
    private static JsonObject Locate(JsonObject body, string parent)
    {
        JsonNode node = body;
        foreach (var part in parent.Split('.', StringSplitOptions.RemoveEmptyEntries))
        {
            var bracket = part.IndexOf('[', StringComparison.Ordinal);
            node = bracket < 0 ? node[part]! : node[part[..bracket]]![int.Parse(part[(bracket + 1)..^1], System.Globalization.CultureInfo.InvariantCulture)]!;
        }
        return node.AsObject();
    }
}
