using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Json.Schema;
using Marketplace.Testing;

namespace Marketplace.Web.Tests.Contract;

/// <summary>
/// The operations of the served OpenAPI document, and whether one exchange (method, path, request body, status, response
/// body) keeps to them. Schemas are checked with JsonSchema.Net (OpenAPI 3.1 schemas are JSON Schema 2020-12), their
/// <c>$ref</c>s to components resolved within the document.
/// </summary>
public sealed class ApiContract
{
    private static readonly ConditionalWeakTable<WebCluster, Lazy<Task<ApiContract>>> Served = new();

    private readonly List<Operation> _operations;
    private readonly JsonObject _definitions;
    private readonly ConcurrentDictionary<string, JsonSchema> _schemas = new(StringComparer.Ordinal);

    public ApiContract(string document)
    {
        // "#/components/schemas/X" becomes "#/$defs/X" of each schema that is checked, with every component beside it.
        var root = JsonNode.Parse(document.Replace("\"#/components/schemas/", "\"#/$defs/", StringComparison.Ordinal))!.AsObject();
        _definitions = root["components"]?["schemas"]?.AsObject() ?? [];
        _operations = [];
        foreach (var (path, item) in root["paths"]!.AsObject())
        {
            foreach (var (method, node) in item!.AsObject())
            {
                var operation = node!.AsObject();
                var responses = new Dictionary<int, JsonNode?>();
                foreach (var (status, response) in operation["responses"]?.AsObject() ?? [])
                {
                    responses[int.Parse(status)] = JsonSchemaOf(response?["content"]);
                }
                _operations.Add(new Operation(method.ToUpperInvariant(), path, Template(path), path.Count(c => c == '{'),
                    operation["operationId"]?.GetValue<string>() ?? $"{method} {path}", JsonSchemaOf(operation["requestBody"]?["content"]), responses));
            }
        }
        // A literal segment wins over a parameter: /providers/me is not /providers/{id}.
        _operations.Sort((a, b) => a.Parameters.CompareTo(b.Parameters));
    }

    /// <summary>The contract of the document a web tier serves, read once per web tier.</summary>
    public static Task<ApiContract> Of(WebCluster web) => Served.GetValue(web, w => new Lazy<Task<ApiContract>>(async () =>
    {
        using var client = w.Factory.CreateClient();
        return new ApiContract(await client.GetStringAsync("/openapi/v1.json"));
    })).Value;

    /// <summary>Whether the document describes requests to this path at all (the API's paths; not pages, hubs or health).</summary>
    public static bool Describes(string path) => path.StartsWith("/api/", StringComparison.Ordinal);

    /// <summary>What is wrong with the exchange, or null when it keeps to the document.</summary>
    public string? Check(string method, string path, string? requestJson, int status, string? responseJson)
    {
        var operation = _operations.FirstOrDefault(o => o.Method == method && o.Pattern.IsMatch(path));
        if (operation is null)
        {
            var paths = _operations.Where(o => o.Pattern.IsMatch(path)).Select(o => o.Method).ToList();
            return paths.Count == 0
                ? $"{method} {path}: no operation of the document has this path"
                : $"{method} {path}: the document's operations on this path are {string.Join(", ", paths)}, not {method}";
        }
        var name = $"{operation.Id} ({method} {operation.Path})";
        // A request the document does not allow (a test's deliberately bad input) keeps to the contract only when the API
        // refuses it as bad input: taking it would be taking what the document says the API does not take.
        if (requestJson is not null && operation.Request is { } requestSchema
            && Invalid(requestSchema, requestJson, $"{operation.Id} request") is { } badRequest
            && status is not (400 or 422))
        {
            return $"{name}: the request body does not match the document, yet the API answered {status}: {badRequest}";
        }
        if (!operation.Responses.TryGetValue(status, out var responseSchema))
        {
            return $"{name}: answered {status}, which the document does not declare (it declares {string.Join(", ", operation.Responses.Keys.Order())})"
                + (responseJson is null ? "" : $"; body: {Shorten(responseJson)}");
        }
        if (responseJson is not null && responseSchema is not null
            && Invalid(responseSchema, responseJson, $"{operation.Id} {status}") is { } badResponse)
        {
            return $"{name}: the {status} response body does not match the document: {badResponse}";
        }
        return null;
    }

    private string? Invalid(JsonNode schema, string json, string key)
    {
        JsonElement instance;
        try
        {
            instance = JsonDocument.Parse(json).RootElement.Clone();
        }
        catch (JsonException e)
        {
            return $"not JSON ({e.Message})";
        }
        var compiled = _schemas.GetOrAdd(key, _ =>
        {
            var wrapper = new JsonObject
            {
                ["$schema"] = "https://json-schema.org/draft/2020-12/schema",
                ["$defs"] = _definitions.DeepClone(),
                ["allOf"] = new JsonArray(schema.DeepClone()),
            };
            return JsonSchema.FromText(wrapper.ToJsonString(), new BuildOptions { SchemaRegistry = new SchemaRegistry() },
                new Uri($"https://contract.marketplace.test/{Guid.NewGuid():N}"));
        });
        var result = compiled.Evaluate(instance, new EvaluationOptions { OutputFormat = OutputFormat.List });
        if (result.IsValid)
        {
            return null;
        }
        var failures = (result.Details ?? []).Where(d => d.Errors is { Count: > 0 })
            .SelectMany(d => d.Errors!.Select(e => $"at {Location(d.InstanceLocation.ToString())}: {e.Value} (schema {d.EvaluationPath})"))
            .Distinct()
            .Take(5)
            .ToList();
        return failures.Count > 0 ? string.Join("; ", failures) : "invalid";
    }

    private static string Location(string pointer) => pointer.Length == 0 ? "$" : "$" + pointer.Replace('/', '.');

    private static string Shorten(string text) => text.Length <= 500 ? text : text[..500] + "…";

    /// <summary>The schema of JSON content (application/json or application/problem+json), if the content has one.</summary>
    private static JsonNode? JsonSchemaOf(JsonNode? content)
    {
        foreach (var (type, media) in content?.AsObject() ?? [])
        {
            if (type.Contains("json", StringComparison.Ordinal) && media?["schema"] is { } schema)
            {
                return schema;
            }
        }
        return null;
    }

    private static Regex Template(string path) =>
        new("^" + Regex.Replace(Regex.Escape(path), @"\\\{[^/]+?}", "[^/]+") + "/?$", RegexOptions.CultureInvariant);

    private sealed record Operation(string Method, string Path, Regex Pattern, int Parameters, string Id, JsonNode? Request,
        Dictionary<int, JsonNode?> Responses);
}

