using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using OrderFlow.Contracts;

namespace OrderFlow.Messaging;

/// <summary>A consumed message after parsing: an event to apply, a known event this module ignores, or a dead letter.</summary>
internal sealed class IncomingMessage
{
    public required ConsumeResult<byte[]?, byte[]?> Raw { get; init; }
    public IntegrationEvent? Event { get; init; }
    public HandlerBinding? Binding { get; init; }

    /// <summary>The message's W3C traceparent when it has a valid one, else null.</summary>
    public string? TraceParent { get; init; }

    /// <summary><see cref="TraceParent"/> parsed (remote), or the default context when there is none: parsed once, here, for the span and the outbox.</summary>
    public ActivityContext TraceContext { get; init; }

    public string? Error { get; init; }
    public bool Ignored { get; init; }

    /// <summary>
    /// Never throws: a message the checks below did not foresee is dead-lettered too, instead of
    /// failing the loop, which would restart at the same offset and wedge the partition.
    /// </summary>
    public static IncomingMessage Parse(ConsumeResult<byte[]?, byte[]?> raw, EventConsumerRegistration registration, int maxBytes)
    {
        try
        {
            return ParseChecked(raw, registration, maxBytes);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            return Dead(raw, $"unreadable message: {ex.GetType().Name}: {ex.Message}");
        }
    }

    private static IncomingMessage ParseChecked(ConsumeResult<byte[]?, byte[]?> raw, EventConsumerRegistration registration, int maxBytes)
    {
        var value = raw.Message.Value;
        var headers = raw.Message.Headers;
        if (ReferenceEquals(value, UnhandledPayloadFilter.Skipped)) return new IncomingMessage { Raw = raw, Ignored = true };
        if (value is null || value.Length == 0) return Dead(raw, "empty payload");
        if (value.Length > maxBytes) return Dead(raw, $"oversize message: {value.Length} bytes, limit {maxBytes}");

        // The consumers read ~15 messages per order: their headers and key are compared as bytes
        // where they can be, and decoded to strings only when that does not settle it.
        var eventType = EventTypeName(headers.GetBytes(HeaderNames.EventType)) ?? PeekString(value, "event_type");
        if (string.IsNullOrEmpty(eventType)) return Dead(raw, "missing event_type (header and payload)");
        if (!EventCatalog.Types.ContainsKey(eventType)) return Dead(raw, $"unknown event_type '{Clip(eventType)}'");
        if (!registration.Handlers.TryGetValue(eventType, out var binding)) return new IncomingMessage { Raw = raw, Ignored = true };

        var versionBytes = headers.GetBytes(HeaderNames.EventVersion);
        if (versionBytes is not null)
        {
            // Digits only: int.TryParse also accepts trailing NUL characters ("1\0" would read as 1).
            if (versionBytes.Length is 0 or > 9 || versionBytes.AsSpan().ContainsAnyExceptInRange((byte)'0', (byte)'9')
                || !int.TryParse(versionBytes, NumberStyles.None, CultureInfo.InvariantCulture, out var headerVersion))
                return Dead(raw, $"event_version header '{Clip(Encoding.UTF8.GetString(versionBytes))}' is not an integer");
            if (!binding.Versions.Contains(headerVersion))
                return Dead(raw, $"unsupported event_version {headerVersion} of {eventType}; accepted: {string.Join(", ", binding.Versions)}");
        }

        IntegrationEvent evt;
        try
        {
            evt = EventJson.Deserialize(value, binding.EventType);
        }
        catch (Exception ex) when (ex is JsonException or NotSupportedException or InvalidOperationException or ArgumentException)
        {
            return Dead(raw, $"malformed {eventType} payload: {ex.Message}");
        }

        if (!binding.Versions.Contains(evt.EventVersion))
            return Dead(raw, $"unsupported event_version {evt.EventVersion} of {eventType}; accepted: {string.Join(", ", binding.Versions)}");
        // A missing event_id must not become the fresh id the record would make up: a redelivered
        // copy would then look new. The payload's id wins, then the header's, else dead-letter.
        // The deserialized id is the payload's, or a fresh one the record made up when the payload
        // has none, which never equals the header's: equal, the payload need not be read again.
        var headerIdBytes = headers.GetBytes(HeaderNames.EventId);
        string? eventId;
        if (headerIdBytes is not null && Ascii.Equals(headerIdBytes, evt.EventId)) eventId = evt.EventId;
        else
        {
            var headerId = headerIdBytes is null ? null : Encoding.UTF8.GetString(headerIdBytes);
            eventId = headerId is not null && evt.EventId == headerId ? headerId : PeekString(value, "event_id") ?? headerId;
        }
        if (string.IsNullOrWhiteSpace(eventId) || eventId.Length > 64) return Dead(raw, "event_id is missing or longer than 64 characters");
        evt.EventId = eventId;
        if (string.IsNullOrWhiteSpace(evt.OrderId) || evt.OrderId.Length > 64) return Dead(raw, "order_id is missing or longer than 64 characters");
        if (raw.Message.Key is not { } keyBytes || !Ascii.Equals(keyBytes, evt.OrderId))
        {
            var key = raw.Message.Key is null ? null : Encoding.UTF8.GetString(raw.Message.Key);
            if (key != evt.OrderId) return Dead(raw, $"message key '{Clip(key)}' does not match order_id '{Clip(evt.OrderId)}'");
        }
        if (binding.When is not null && !binding.When(evt)) return new IncomingMessage { Raw = raw, Ignored = true };
        if (binding.Validate?.Invoke(evt) is { } invalid) return Dead(raw, $"invalid {eventType}: {invalid}");

        var traceParent = headers.GetString(HeaderNames.TraceParent);
        var traced = ActivityContext.TryParse(traceParent, null, isRemote: true, out var traceContext);
        return new IncomingMessage { Raw = raw, Event = evt, Binding = binding, TraceParent = traced ? traceParent : null, TraceContext = traceContext };
    }

    // The error goes to a log line and a header: parts of it come from the message (an unknown
    // event_type, a serializer message quoting a value), so it is bounded and kept on one line.
    private static IncomingMessage Dead(ConsumeResult<byte[]?, byte[]?> raw, string error) =>
        new() { Raw = raw, Error = LogMask.OneLine(error.Length <= 500 ? error : error[..500] + "…") };

    private static readonly (byte[] Utf8, string Name)[] EventTypeNames =
        EventCatalog.Types.Keys.Select(name => (Encoding.UTF8.GetBytes(name), name)).ToArray();

    /// <summary>The header's event type: the catalogue's own string when it names a known event, else the decoded text.</summary>
    private static string? EventTypeName(byte[]? header)
    {
        if (header is null) return null;
        foreach (var (utf8, name) in EventTypeNames)
            if (header.AsSpan().SequenceEqual(utf8)) return name;
        return Encoding.UTF8.GetString(header);
    }

    private static string? Clip(string? text) => text is null || text.Length <= 64 ? text : text[..64] + "…";

    /// <summary>
    /// One top-level boolean property read without deserializing the payload; null when it is
    /// absent, appears twice (the deserializer and this reader could then disagree), is not a
    /// boolean, or the payload is not a JSON object.
    /// </summary>
    internal static bool? PeekBoolean(ReadOnlySpan<byte> json, ReadOnlySpan<byte> property)
    {
        try
        {
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 64 });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return null;
            bool? found = null;
            while (reader.Read())
            {
                if (reader.TokenType == JsonTokenType.EndObject) return reader.Read() ? null : found;
                if (reader.TokenType != JsonTokenType.PropertyName) return null;
                var match = reader.ValueTextEquals(property);
                if (!reader.Read()) return null;
                if (match)
                {
                    if (found is not null || reader.TokenType is not (JsonTokenType.True or JsonTokenType.False)) return null;
                    found = reader.TokenType == JsonTokenType.True;
                }
                else reader.Skip();
            }
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            // Not JSON: the consumer's deserializer calls this, and it must never throw.
        }
        return null;
    }

    /// <summary>Reads one top-level string property without deserializing the payload.</summary>
    internal static string? PeekString(ReadOnlySpan<byte> json, string property)
    {
        try
        {
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 64 });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return null;
            while (reader.Read())
            {
                if (reader.TokenType == JsonTokenType.EndObject) return null;
                if (reader.TokenType != JsonTokenType.PropertyName) continue;
                var match = reader.ValueTextEquals(property);
                if (!reader.Read()) return null;
                if (match) return reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                reader.Skip();
            }
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            // InvalidOperationException: the string is not valid UTF-8 (GetString cannot transcode it).
        }
        return null;
    }
}
