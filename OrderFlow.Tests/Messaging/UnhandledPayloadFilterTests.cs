using Confluent.Kafka;
using OrderFlow.Contracts;
using OrderFlow.Messaging;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.Messaging;

/// <summary>
/// The consumers' value deserializer leaves out the payload of a known event the module does not
/// handle; everything else is copied and judged by <see cref="IncomingMessage"/> as before.
/// </summary>
[TestFixture]
public sealed class UnhandledPayloadFilterTests
{
    private const int MaxBytes = 1_000;

    private static readonly EventConsumerRegistration Registration = ProbeMessages.Registration;

    private static readonly OrderCreated Event = Builders.AnOrderCreated().Build();

    private static readonly byte[] Payload = EventJson.Serialize(Event);

    [TestCase("OrderStatusChanged")]
    [TestCase("PaymentCompleted")]
    public void Consume_OfAKnownEventTheModuleDoesNotHandle_SkipsItWithoutCopyingThePayload(string eventType)
    {
        var message = Consume(Payload, (HeaderNames.EventType, eventType));

        Assert.Multiple(() =>
        {
            Assert.That(message.Raw.Message.Value, Is.SameAs(UnhandledPayloadFilter.Skipped));
            Assert.That(message.Ignored, Is.True);
            Assert.That(message.Error, Is.Null);
        });
    }

    [Test]
    public void Consume_OfAnEventTheModuleHandles_CopiesThePayloadAndAppliesIt()
    {
        var message = Consume(Payload, (HeaderNames.EventType, "OrderCreated"));

        Assert.Multiple(() =>
        {
            Assert.That(message.Raw.Message.Value, Is.EqualTo(Payload));
            Assert.That(message.Event, Is.InstanceOf<OrderCreated>());
        });
    }

    [TestCase("NoSuchEvent", "unknown event_type")]
    [TestCase("orderstatuschanged", "unknown event_type")]
    public void Consume_OfAnUnknownEventType_IsStillDeadLettered(string eventType, string error)
    {
        var message = Consume(Payload, (HeaderNames.EventType, eventType));

        Assert.That(message.Error, Does.Contain(error));
    }

    [Test]
    public void Consume_OfAnEmptyOrOversizePayloadOfAnUnhandledEvent_IsStillDeadLettered()
    {
        Assert.Multiple(() =>
        {
            Assert.That(Consume([], (HeaderNames.EventType, "OrderStatusChanged")).Error, Does.Contain("empty payload"));
            Assert.That(Consume(new byte[MaxBytes + 1], (HeaderNames.EventType, "OrderStatusChanged")).Error, Does.Contain("oversize"));
        });
    }

    [Test]
    public void Consume_WhenTheLastEventTypeHeaderIsHandled_CopiesThePayload()
    {
        var message = Consume(Payload, (HeaderNames.EventType, "OrderStatusChanged"), (HeaderNames.EventType, "OrderCreated"));

        Assert.That(message.Event, Is.InstanceOf<OrderCreated>());
    }

    [Test]
    public void Consume_WithoutAnEventTypeHeader_CopiesThePayloadForThePayloadsOwnType()
    {
        var message = Consume(Payload);

        Assert.That(message.Event, Is.InstanceOf<OrderCreated>());
    }

    [Test]
    public void Consume_OfANullPayload_IsNull() =>
        Assert.That(new UnhandledPayloadFilter(Registration, MaxBytes).Deserialize([], isNull: true, default), Is.Null);

    /// <summary>What the consumer does: the filter deserializes the value with the message's headers, then the loop parses it.</summary>
    private static IncomingMessage Consume(byte[] value, params (string Name, string Value)[] headers)
    {
        var kafkaHeaders = ProbeMessages.HeadersOf(headers);
        var filter = new UnhandledPayloadFilter(Registration, MaxBytes);
        var deserialized = filter.Deserialize(value, isNull: false, new SerializationContext(MessageComponentType.Value, "probe-topic", kafkaHeaders));
        return IncomingMessage.Parse(ProbeMessages.Consumed(Event.OrderId, deserialized, kafkaHeaders), Registration, MaxBytes);
    }
}
