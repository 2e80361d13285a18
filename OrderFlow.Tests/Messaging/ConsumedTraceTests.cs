using System.Diagnostics;
using System.Text.Json;
using OrderFlow.Contracts;
using OrderFlow.Messaging;
using OrderFlow.Persistence;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.Messaging;

/// <summary>
/// A consumed message's traceparent is checked and parsed once, when the message is; the span and
/// the events its handler publishes continue that trace from what was parsed.
/// </summary>
[TestFixture]
public sealed class ConsumedTraceTests
{
    private const string TraceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    private const string TraceParent = "00-" + TraceId + "-00f067aa0ba902b7-01";

    [SetUp]
    public void NoAmbientSpan() => Activity.Current = null;

    [Test]
    public void Parse_WithAValidTraceParent_KeepsItAndItsParsedRemoteContext()
    {
        var message = Parse(TraceParent);

        using (Assert.EnterMultipleScope())
        {
            Assert.That(message.Error, Is.Null);
            Assert.That(message.TraceParent, Is.EqualTo(TraceParent));
            Assert.That(message.TraceContext.TraceId.ToHexString(), Is.EqualTo(TraceId));
            Assert.That(message.TraceContext.SpanId.ToHexString(), Is.EqualTo("00f067aa0ba902b7"));
            Assert.That(message.TraceContext.IsRemote, Is.True);
        }
    }

    [TestCase("00-zz4bf92f3577b34da6a3ce929d0e0e47-00f067aa0ba902b7-01")]
    [TestCase("00-00000000000000000000000000000000-00f067aa0ba902b7-01")]
    [TestCase("not a traceparent")]
    [TestCase(null)]
    public void Parse_WithoutAValidTraceParent_HasNeitherTheTextNorAContext(string? traceParent)
    {
        var message = Parse(traceParent);

        Assert.That(message.Error, Is.Null, "a bad trace header is not a reason to dead-letter the event");
        Assert.That((message.TraceParent, message.TraceContext), Is.EqualTo(((string?)null, default(ActivityContext))));
    }

    [Test]
    public void Outbox_OfAConsumedMessage_PublishesInTheMessagesTrace()
    {
        var rows = new List<OutboxMessage>();
        var outbox = new Outbox(rows, Parse(TraceParent), DateTime.UtcNow, TopicLayout.Default);

        outbox.Add(Builders.AnOrderCreated().Build() with { TraceId = null });

        using var payload = JsonDocument.Parse(rows.Single().Payload);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(rows.Single().TraceParent, Is.EqualTo(TraceParent));
            Assert.That(payload.RootElement.GetProperty("trace_id").GetString(), Is.EqualTo(TraceId));
        }
    }

    [Test]
    public void Outbox_OfAConsumedMessageInASpanOfItsTrace_PointsTheRowsAtThatSpan()
    {
        var message = Parse(TraceParent);
        using var span = new Activity("handling").SetIdFormat(ActivityIdFormat.W3C).SetParentId(message.TraceContext.TraceId, message.TraceContext.SpanId).Start();
        var rows = new List<OutboxMessage>();

        new Outbox(rows, message, DateTime.UtcNow, TopicLayout.Default).Add(Builders.AnOrderCreated().Build());

        Assert.That(rows.Single().TraceParent, Is.EqualTo(span.Id));
    }

    [Test]
    public void Outbox_OfAConsumedMessageWithoutATrace_StartsANewOne()
    {
        var rows = new List<OutboxMessage>();

        new Outbox(rows, Parse(null), DateTime.UtcNow, TopicLayout.Default).Add(Builders.AnOrderCreated().Build());

        Assert.That(ActivityContext.TryParse(rows.Single().TraceParent, null, out var context), Is.True, rows.Single().TraceParent);
        Assert.That(context.TraceId.ToHexString(), Is.Not.EqualTo(TraceId));
    }

    private static IncomingMessage Parse(string? traceParent)
    {
        var evt = Builders.AnOrderCreated().Build();
        var headers = traceParent is null ? ProbeMessages.HeadersOf() : ProbeMessages.HeadersOf((HeaderNames.TraceParent, traceParent));
        return IncomingMessage.Parse(ProbeMessages.Consumed(evt.OrderId, EventJson.Serialize(evt), headers), ProbeMessages.Registration, 65_536);
    }
}
