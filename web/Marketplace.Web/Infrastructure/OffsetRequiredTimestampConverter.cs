using System.Text.Json;
using System.Text.Json.Serialization;

namespace Marketplace.Web.Infrastructure;

/// <summary>
/// A timestamp in a request must say which instant it is: without an offset ("2026-03-01T09:00:00") it would be read in
/// the server's zone, and 09:00 in Beijing is 01:00 UTC. Such a value is refused with a 422, not guessed.
/// Written values are ISO 8601 with their offset, as the default converter writes them.
/// </summary>
internal sealed class OffsetRequiredTimestampConverter : JsonConverter<DateTimeOffset>
{
    public override DateTimeOffset Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        // An ISO 8601 value without an offset reads as a DateTime of unspecified kind; one with 'Z' or an offset does not.
        if (reader.TokenType == JsonTokenType.String && reader.TryGetDateTime(out var local) && local.Kind == DateTimeKind.Unspecified)
        {
            throw DomainException.Rule("timestamp-without-offset",
                $"the timestamp '{reader.GetString()}' has no offset; send UTC with 'Z' (e.g. 2026-03-01T01:00:00Z) or an offset (e.g. 2026-03-01T09:00:00+08:00)");
        }
        return reader.GetDateTimeOffset();
    }

    public override void Write(Utf8JsonWriter writer, DateTimeOffset value, JsonSerializerOptions options) => writer.WriteStringValue(value);
}
