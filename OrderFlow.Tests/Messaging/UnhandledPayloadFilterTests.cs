using Confluent.Kafka;
using Microsoft.Extensions.DependencyInjection;
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

    // A handled type that the module applies only when it is terminal, and skips unread otherwise (Notification's status changes).
    private static readonly EventConsumerRegistration TerminalOnly =
        new ServiceCollection().AddEventConsumer<ProbeDbContext>("probe-terminal", "probe-topic")
            .HandleWhen<OrderStatusChanged, TerminalStatusHandler>(evt => evt.IsTerminal)
            .SkipUnreadWhen<OrderStatusChanged>("is_terminal", false)
            .Registration;

    private static OrderStatusChanged StatusChange(bool terminal) => new()
    {
        OrderId = Event.OrderId, UserId = "USER-001", PreviousStatus = "Paid", Status = terminal ? "Completed" : "Paid",
        TotalAmount = 10m, IsTerminal = terminal, Timestamp = DateTime.UtcNow,
    };

    [Test]
    public void Consume_OfAStatusChangeWhosePayloadSaysItIsNotTerminal_SkipsItUnread()
    {
        var message = Consume(TerminalOnly, EventJson.Serialize(StatusChange(terminal: false)), (HeaderNames.EventType, "OrderStatusChanged"));

        Assert.Multiple(() =>
        {
            Assert.That(message.Raw.Message.Value, Is.SameAs(UnhandledPayloadFilter.Skipped));
            Assert.That(message.Ignored, Is.True);
        });
    }

    [Test]
    public void Consume_OfATerminalStatusChange_CopiesAndAppliesIt()
    {
        var payload = EventJson.Serialize(StatusChange(terminal: true));

        var message = Consume(TerminalOnly, payload, (HeaderNames.EventType, "OrderStatusChanged"));

        Assert.Multiple(() =>
        {
            Assert.That(message.Raw.Message.Value, Is.EqualTo(payload));
            Assert.That(message.Event, Is.InstanceOf<OrderStatusChanged>());
        });
    }

    // Where the payload does not settle it unread, it is read and judged by its event as before.
    [TestCase("""{"event_type":"OrderStatusChanged","is_terminal":"false"}""", Description = "not a boolean")]
    [TestCase("""{"event_type":"OrderStatusChanged","is_terminal":true,"is_terminal":false}""", Description = "repeated")]
    [TestCase("""{"event_type":"OrderStatusChanged","status":"Paid"}""", Description = "absent")]
    [TestCase("""{"event_type":"OrderStatusChanged","is_terminal":false""", Description = "not JSON")]
    [TestCase("""{"event_type":"OrderStatusChanged","nested":{"is_terminal":false}}""", Description = "not at the top")]
    public void Consume_OfAStatusChangeWhosePayloadDoesNotSettleIt_CopiesThePayload(string json)
    {
        var payload = System.Text.Encoding.UTF8.GetBytes(json);

        var message = Consume(TerminalOnly, payload, (HeaderNames.EventType, "OrderStatusChanged"));

        Assert.Multiple(() =>
        {
            Assert.That(message.Raw.Message.Value, Is.EqualTo(payload));
            Assert.That(message.Error, Is.Not.Null, "read, and dead-lettered as malformed");
        });
    }

    [Test]
    public void SkipUnreadWhen_OfATypeHandledUnconditionally_IsRefused() =>
        Assert.Throws<InvalidOperationException>(() => new ServiceCollection().AddEventConsumer<ProbeDbContext>("probe-refused", "probe-topic")
            .Handle<OrderCreated, ProbeHandler>(1, 2)
            .SkipUnreadWhen<OrderCreated>("is_terminal", false));

    private sealed class TerminalStatusHandler : IEventHandler<OrderStatusChanged>
    {
        public Task HandleAsync(OrderStatusChanged evt, Outbox outbox, CancellationToken cancellationToken) => Task.CompletedTask;
    }

    [Test]
    public void Consume_OfANullPayload_IsNull() =>
        Assert.That(new UnhandledPayloadFilter(Registration, MaxBytes).Deserialize([], isNull: true, default), Is.Null);

    /// <summary>What the consumer does: the filter deserializes the value with the message's headers, then the loop parses it.</summary>
    private static IncomingMessage Consume(byte[] value, params (string Name, string Value)[] headers) => Consume(Registration, value, headers);

    private static IncomingMessage Consume(EventConsumerRegistration registration, byte[] value, params (string Name, string Value)[] headers)
    {
        var kafkaHeaders = ProbeMessages.HeadersOf(headers);
        var filter = new UnhandledPayloadFilter(registration, MaxBytes);
        var deserialized = filter.Deserialize(value, isNull: false, new SerializationContext(MessageComponentType.Value, "probe-topic", kafkaHeaders));
        return IncomingMessage.Parse(ProbeMessages.Consumed(Event.OrderId, deserialized, kafkaHeaders), registration, MaxBytes);
    }
}
