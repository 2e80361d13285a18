using System.Text;
using Confluent.Kafka;
using OrderFlow.Contracts;

namespace OrderFlow.Messaging;

/// <summary>
/// The consumers' value deserializer: copies the payload out of librdkafka's buffer, except for a
/// message whose <c>event_type</c> header names a known event this module does not handle — those
/// are skipped unread anyway (<see cref="IncomingMessage"/>), and they are about half of what the
/// modules read from <c>order-events</c>. Such a message gets <see cref="Skipped"/> instead of a
/// copy. Only payloads that would pass the size checks are left out, so an empty or oversize
/// message is still dead-lettered as before. It never throws: a throwing deserializer would move
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

    public byte[]? Deserialize(ReadOnlySpan<byte> data, bool isNull, SerializationContext context)
    {
        if (isNull) return null;
        if (data.Length > 0 && data.Length <= maxBytes && IsUnhandled(context.Headers)) return Skipped;
        return data.ToArray();
    }

    private bool IsUnhandled(Headers? headers)
    {
        if (headers is null) return false;
        // The last event_type header counts, as HeaderNames.GetString reads it.
        for (var i = headers.Count - 1; i >= 0; i--)
        {
            var header = headers[i];
            if (header.Key != HeaderNames.EventType) continue;
            var type = header.GetValueBytes();
            if (type is null) return false;
            foreach (var name in unhandled)
                if (type.AsSpan().SequenceEqual(name)) return true;
            return false;
        }
        return false;
    }
}
