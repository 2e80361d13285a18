using System.Text;
using Confluent.Kafka;
using OrderFlow.Contracts;

namespace OrderFlow.Messaging;

/// <summary>
/// The consumers' value deserializer: copies the payload out of librdkafka's buffer, except for a
/// message whose <c>event_type</c> header names a known event this module does not handle — those
/// are skipped unread anyway (<see cref="IncomingMessage"/>), and they are about half of what the
/// modules read from <c>order-events</c>; so is one of a handled type whose payload says the
/// module ignores it (<see cref="EventConsumerBuilder{TContext}.SkipUnreadWhen{TEvent}"/>: the two
/// of an order's three status changes that are not terminal, for Notification). Such a message
/// gets <see cref="Skipped"/> instead of a copy. Only payloads that would pass the size checks
/// are left out, so an empty or oversize message is still dead-lettered as before. It never throws: a throwing deserializer would move
/// the consumer past the message (see <see cref="KafkaClientFactory.CreateRawConsumer"/>).
/// </summary>
internal sealed class UnhandledPayloadFilter(EventConsumerRegistration registration, int maxBytes) : IDeserializer<byte[]?>
{
    /// <summary>Stands for a payload that was not copied; compared by reference.</summary>
    public static readonly byte[] Skipped = [0];

    private readonly byte[][] unhandled = EventCatalog.Types.Keys
        .Where(type => !registration.Handlers.ContainsKey(type))
        .Select(Encoding.UTF8.GetBytes)
        .ToArray();

    // Handled types whose payload can say, unread, that the module ignores it (SkipUnreadWhen).
    private readonly (byte[] Type, byte[] Property, bool Value)[] unreadWhen = registration.Handlers
        .Where(h => h.Value.SkipUnread is not null)
        .Select(h => (Encoding.UTF8.GetBytes(h.Key), Encoding.UTF8.GetBytes(h.Value.SkipUnread!.Property), h.Value.SkipUnread.Value))
        .ToArray();

    public byte[]? Deserialize(ReadOnlySpan<byte> data, bool isNull, SerializationContext context)
    {
        if (isNull) return null;
        if (data.Length > 0 && data.Length <= maxBytes && EventType(context.Headers) is { } type && IsIgnored(type, data)) return Skipped;
        return data.ToArray();
    }

    private bool IsIgnored(byte[] type, ReadOnlySpan<byte> data)
    {
        foreach (var name in unhandled)
            if (type.AsSpan().SequenceEqual(name)) return true;
        foreach (var (name, property, value) in unreadWhen)
            if (type.AsSpan().SequenceEqual(name)) return IncomingMessage.PeekBoolean(data, property) == value;
        return false;
    }

    /// <summary>The last <c>event_type</c> header's value, as <see cref="HeaderNames.GetString"/> reads it, or null.</summary>
    private static byte[]? EventType(Headers? headers)
    {
        if (headers is null) return null;
        for (var i = headers.Count - 1; i >= 0; i--)
        {
            var header = headers[i];
            if (header.Key == HeaderNames.EventType) return header.GetValueBytes();
        }
        return null;
    }
}
