using System.Text.Json;
using System.Text.Json.Serialization;

namespace Marketplace.Data;

/// <summary>How grain state and read models are written as jsonb: camelCase, enums by name.</summary>
public static class StateJson
{
    public static JsonSerializerOptions Options { get; } = Create();

    public static JsonSerializerOptions Create()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web);
        options.Converters.Add(new JsonStringEnumConverter());
        return options;
    }

    public static string Serialize<T>(T value) => JsonSerializer.Serialize(value, Options);

    public static T Deserialize<T>(string json) =>
        JsonSerializer.Deserialize<T>(json, Options) ?? throw new InvalidOperationException($"stored {typeof(T).Name} is null");
}
