using System.Text.Json.Serialization;

namespace OrderFlow.Contracts;

/// <summary>
/// Fields every event carries. Properties with defaults have setters, not init accessors: the
/// source-generated deserializer assigns every init property in one object initializer and so
/// overwrites defaults with 0/null when a field is absent (dotnet/runtime#84484). The CLR type name is the wire <c>event_type</c>;
/// <see cref="EventId"/> is the idempotency key consumers record in their inbox.
/// </summary>
public abstract record IntegrationEvent
{
    [JsonPropertyOrder(-100)]
    public string EventType => GetType().Name;

    /// <summary>The order this event concerns; also the Kafka message key.</summary>
    [JsonPropertyOrder(-90)]
    public required string OrderId { get; init; }

    /// <summary>When the fact happened, UTC.</summary>
    [JsonPropertyOrder(100)]
    public required DateTime Timestamp { get; init; }

    /// <summary>Unique per event; the consumers' idempotency key.</summary>
    [JsonPropertyOrder(110)]
    public string EventId { get; set; } = NewEventId();

    /// <summary>Schema version of this event's payload.</summary>
    [JsonPropertyOrder(120)]
    public int EventVersion { get; set; } = 1;

    /// <summary>W3C trace id of the order's trace (also carried in the <c>traceparent</c> header).</summary>
    [JsonPropertyOrder(130)]
    public string? TraceId { get; init; }

    public static string NewEventId() => Ids.NewVersion7().ToString("N");
}
