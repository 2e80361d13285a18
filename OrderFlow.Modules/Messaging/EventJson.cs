using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using OrderFlow.Contracts;

namespace OrderFlow.Messaging;

/// <summary>The one serializer set-up for events: snake_case, UTC timestamps with a trailing Z, source-generated.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    NumberHandling = JsonNumberHandling.Strict,
    Converters = [typeof(UtcDateTimeConverter)])]
[JsonSerializable(typeof(OrderCreated))]
[JsonSerializable(typeof(OrderStatusChanged))]
[JsonSerializable(typeof(OrderCancelled))]
[JsonSerializable(typeof(InventoryReserved))]
[JsonSerializable(typeof(InventoryReservationFailed))]
[JsonSerializable(typeof(InventoryReleased))]
[JsonSerializable(typeof(PaymentCompleted))]
[JsonSerializable(typeof(PaymentFailed))]
[JsonSerializable(typeof(PaymentRefunded))]
[JsonSerializable(typeof(NotificationSent))]
internal sealed partial class EventJsonContext : JsonSerializerContext;

public static class EventJson
{
    public static byte[] Serialize(IntegrationEvent evt) =>
        JsonSerializer.SerializeToUtf8Bytes(evt, EventJsonContext.Default.GetTypeInfo(evt.GetType())
            ?? throw new InvalidOperationException($"{evt.GetType().Name} is not registered for serialization"));

    public static IntegrationEvent Deserialize(ReadOnlySpan<byte> json, Type type) =>
        (IntegrationEvent)(JsonSerializer.Deserialize(json, EventJsonContext.Default.GetTypeInfo(type)!)
            ?? throw new JsonException("payload is JSON null"));

    public static T Deserialize<T>(ReadOnlySpan<byte> json) where T : IntegrationEvent => (T)Deserialize(json, typeof(T));
}

/// <summary>Writes timestamps as ISO-8601 UTC with a trailing <c>Z</c>, the form of the original design.</summary>
internal sealed class UtcDateTimeConverter : JsonConverter<DateTime>
{
    public override DateTime Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        // The form this converter writes, read from the UTF-8 bytes without a string. Only with the
        // trailing Z: without an offset the reader would assume local time, where this assumes UTC.
        if (reader.TokenType == JsonTokenType.String && !reader.HasValueSequence && !reader.ValueIsEscaped
            && reader.ValueSpan is [.., (byte)'Z'] && reader.TryGetDateTimeOffset(out var utc))
            return utc.UtcDateTime;
        var text = reader.GetString() ?? throw new JsonException("timestamp is null");
        if (!DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var value))
            throw new JsonException($"'{text}' is not an ISO-8601 timestamp");
        return value.UtcDateTime;
    }

    public override void Write(Utf8JsonWriter writer, DateTime value, JsonSerializerOptions options)
    {
        // A UTC DateTime is written by Utf8JsonWriter as ISO-8601 with the fraction's trailing
        // zeros trimmed and a Z: "yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", no fraction for whole seconds.
        // Formatting with that custom pattern parsed the pattern on every call, ~0.5 % of the CPU
        // at full speed (docs/benchmarks.md); the text is the same (WireFormatTests).
        writer.WriteStringValue(value.Kind == DateTimeKind.Local ? value.ToUniversalTime() : DateTime.SpecifyKind(value, DateTimeKind.Utc));
    }
}
