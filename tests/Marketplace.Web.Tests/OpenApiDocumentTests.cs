using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Xunit;

namespace Marketplace.Web.Tests;

/// <summary>
/// The API document the dashboards' types are generated from is committed as web/Marketplace.Web/openapi.json; the served one
/// must not drift from it unnoticed.
/// </summary>
[Collection(PlatformCollection.Name)]
public sealed class OpenApiDocumentTests(PlatformCluster web)
{
    public const string UpdateVariable = "MARKETPLACE_UPDATE_OPENAPI";

    [Fact]
    public async Task The_served_document_is_the_committed_one()
    {
        using var client = web.Client();
        var served = Normalize(await client.GetStringAsync("/openapi/v1.json"));
        var path = CommittedPath();
        var committed = File.Exists(path) ? File.ReadAllText(path).ReplaceLineEndings("\n") : "";
        if (served == committed)
        {
            return;
        }
        if (Environment.GetEnvironmentVariable(UpdateVariable) == "1")
        {
            File.WriteAllText(path, served, new UTF8Encoding(false));
            return;
        }
        Assert.Fail($"The served /openapi/v1.json differs from the committed web/Marketplace.Web/openapi.json (first difference at line "
            + $"{FirstDifference(served, committed)}). If the change is meant, run this test with {UpdateVariable}=1 to rewrite the file, "
            + "and commit it: the dashboards' types are generated from it.");
    }

    [Fact]
    public async Task Every_operation_is_named_tagged_summarised_and_says_who_may_call_it()
    {
        using var client = web.Client();
        using var document = JsonDocument.Parse(await client.GetStringAsync("/openapi/v1.json"));
        var root = document.RootElement;
        Assert.Equal("bearer", root.GetProperty("components").GetProperty("securitySchemes").GetProperty("Bearer").GetProperty("scheme").GetString());
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var path in root.GetProperty("paths").EnumerateObject())
        {
            Assert.StartsWith("/api/v1/", path.Name);
            foreach (var operation in path.Value.EnumerateObject())
            {
                var what = $"{operation.Name.ToUpperInvariant()} {path.Name}";
                var op = operation.Value;
                Assert.True(op.TryGetProperty("operationId", out var id) && names.Add(id.GetString()!), $"{what} has no operationId of its own");
                Assert.True(op.TryGetProperty("tags", out var tags) && tags.GetArrayLength() > 0, $"{what} has no tag");
                Assert.True(op.TryGetProperty("summary", out _), $"{what} has no summary");
                var responses = op.GetProperty("responses");
                Assert.True(responses.TryGetProperty("429", out _) && responses.TryGetProperty("503", out _), $"{what} does not declare 429 and 503");
                // Only the anonymous operations (registering, the development token) need no token; the others say so and may answer 401.
                Assert.Equal(op.TryGetProperty("security", out _), responses.TryGetProperty("401", out _));
            }
        }
    }

    /// <summary>Pretty-printed, with paths and component schemas in name order, so that a diff shows only what changed.</summary>
    public static string Normalize(string json)
    {
        var document = JsonNode.Parse(json)!.AsObject();
        Sort(document["paths"]);
        Sort(document["components"]?["schemas"]);
        Sort(document["components"]?["securitySchemes"]);
        var text = document.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        return text.ReplaceLineEndings("\n") + "\n";
    }

    private static void Sort(JsonNode? node)
    {
        if (node is not JsonObject map)
        {
            return;
        }
        var entries = map.OrderBy(e => e.Key, StringComparer.Ordinal).ToList();
        map.Clear();
        foreach (var (key, value) in entries)
        {
            map[key] = value;
        }
    }

    private static int FirstDifference(string a, string b)
    {
        var left = a.Split('\n');
        var right = b.Split('\n');
        var i = 0;
        while (i < left.Length && i < right.Length && left[i] == right[i])
        {
            i++;
        }
        return i + 1;
    }

    /// <summary>The committed file, found from the test's output folder up to the repository root.</summary>
    private static string CommittedPath()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Marketplace.sln")))
            {
                return Path.Combine(dir.FullName, "web", "Marketplace.Web", "openapi.json");
            }
        }
        throw new InvalidOperationException("the repository root (Marketplace.sln) was not found above " + AppContext.BaseDirectory);
    }
}
