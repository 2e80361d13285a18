using System.Text;
using Confluent.Kafka;
using OrderFlow.Contracts;
using OrderFlow.Messaging;
using OrderFlow.Tests.Messaging;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.Security;

/// <summary>What the fuzz test found, pinned down: parsing a consumed message never throws, and its error is safe to log.</summary>
[TestFixture]
public sealed class IncomingMessageHardeningTests
{
    private static readonly EventConsumerRegistration Registration = ProbeMessages.Registration;

    [Test]
    public void Parse_WhenThePayloadEventTypeIsInvalidUtf8AndThereIsNoHeader_DeadLettersInsteadOfThrowing()
    {
        var evt = Builders.AnOrderCreated().Build();
        var json = EventJson.Serialize(evt);
        var at = Encoding.UTF8.GetString(json).IndexOf("\"OrderCreated\"", StringComparison.Ordinal);
        byte[] value = [.. json[..at], (byte)'"', 0x4F, 0xC0, 0xAF, (byte)'"', .. json[(at + "\"OrderCreated\"".Length)..]];

        var message = IncomingMessage.Parse(Raw(evt.OrderId, value), Registration, 65_536);

        Assert.That(message.Error, Is.Not.Null);
        Assert.That(message.Event, Is.Null);
    }

    [Test]
    public void Parse_WhenThePayloadAndTheHeaderNameDifferentEventIds_ThePayloadWins()
    {
        var evt = Builders.AnOrderCreated().Build();

        var message = IncomingMessage.Parse(Raw(evt.OrderId, EventJson.Serialize(evt), (HeaderNames.EventId, "HEADER-ID")), Registration, 65_536);

        Assert.That(message.Event?.EventId, Is.EqualTo(evt.EventId));
    }

    [TestCase("HEADER-ID", "HEADER-ID")]
    [TestCase(null, null)]
    public void Parse_WhenThePayloadHasNoEventId_TakesTheHeadersOrDeadLetters(string? header, string? expected)
    {
        var evt = Builders.AnOrderCreated().Build();
        var node = System.Text.Json.Nodes.JsonNode.Parse(EventJson.Serialize(evt))!.AsObject();
        node.Remove("event_id");
        (string, string)[] headers = header is null ? [] : [(HeaderNames.EventId, header)];

        var message = IncomingMessage.Parse(Raw(evt.OrderId, Encoding.UTF8.GetBytes(node.ToJsonString()), headers), Registration, 65_536);

        Assert.That(message.Event?.EventId, Is.EqualTo(expected), "never the id the record makes up");
        Assert.That(message.Error is null, Is.EqualTo(expected is not null));
    }

    [Test]
    public void Parse_WhenTheErrorQuotesControlCharactersFromTheMessage_KeepsItOnOneBoundedLine()
    {
        var evt = Builders.AnOrderCreated().Build();
        var forged = "Mystery\r\n2026-01-01 info: admin logged in" + new string('x', 5_000);

        var message = IncomingMessage.Parse(Raw(evt.OrderId, EventJson.Serialize(evt), (HeaderNames.EventType, forged)), Registration, 65_536);

        Assert.That(message.Error, Does.StartWith("unknown event_type 'Mystery??2026"));
        Assert.That(message.Error!.Any(char.IsControl), Is.False);
        Assert.That(message.Error.Length, Is.LessThanOrEqualTo(501));
    }

    [Test]
    public void Parse_WhenATimestampIsHugeAndMultiLine_BoundsTheQuotedValue()
    {
        var evt = Builders.AnOrderCreated().Build();
        var json = Encoding.UTF8.GetString(EventJson.Serialize(evt));
        var stamp = json.IndexOf("\"timestamp\":\"", StringComparison.Ordinal) + "\"timestamp\":\"".Length;
        var end = json.IndexOf('"', stamp);
        var value = json[..stamp] + "line one\\nline two" + new string('9', 20_000) + json[end..];

        var message = IncomingMessage.Parse(Raw(evt.OrderId, Encoding.UTF8.GetBytes(value), (HeaderNames.EventType, "OrderCreated")), Registration, 65_536);

        Assert.That(message.Error, Does.StartWith("malformed OrderCreated payload"));
        Assert.That(message.Error!.Any(char.IsControl), Is.False);
        Assert.That(message.Error.Length, Is.LessThanOrEqualTo(501));
    }

    [TestCase("1\u0000")]
    [TestCase("\u00001")]
    [TestCase("1\u0000\u0000")]
    public void Parse_WhenTheVersionHeaderCarriesNulCharacters_DeadLettersIt(string version)
    {
        var evt = Builders.AnOrderCreated().Build();

        var message = IncomingMessage.Parse(Raw(evt.OrderId, EventJson.Serialize(evt), (HeaderNames.EventType, "OrderCreated"), (HeaderNames.EventVersion, version)), Registration, 65_536);

        Assert.That(message.Error, Does.StartWith("event_version header").And.EndWith("is not an integer"));
        Assert.That(message.Event, Is.Null);
    }

    [Test]
    public void Parse_WhenTheVersionHeaderIsPlainDigits_AppliesIt()
    {
        var evt = Builders.AnOrderCreated().Build();

        var message = IncomingMessage.Parse(Raw(evt.OrderId, EventJson.Serialize(evt), (HeaderNames.EventType, "OrderCreated"), (HeaderNames.EventVersion, "1")), Registration, 65_536);

        Assert.That(message.Error, Is.Null);
        Assert.That(message.Event, Is.Not.Null);
    }

    // The key and the ids are compared as bytes when they are ASCII; other text is decoded and compared as before.
    [TestCase("ORD-ÄÖÜ-1", "ORD-ÄÖÜ-1", true)]
    [TestCase("ORD-ÄÖÜ-1", "ORD-ÄÖÜ-2", false)]
    [TestCase("ORD-1", "ORD-2", false)]
    public void Parse_OfAKeyAndEventIdsInAnyText_AppliesOnlyWhenTheKeyEqualsTheOrderId(string key, string orderId, bool applied)
    {
        var evt = Builders.AnOrderCreated(orderId).Build();
        evt.EventId = "EVT-ÉTÉ-" + evt.EventId;

        var message = IncomingMessage.Parse(Raw(key, EventJson.Serialize(evt), (HeaderNames.EventType, "OrderCreated"), (HeaderNames.EventId, evt.EventId)), Registration, 65_536);

        Assert.That(message.Event?.EventId, applied ? Is.EqualTo(evt.EventId) : Is.Null);
        Assert.That(message.Error, applied ? Is.Null : Does.StartWith($"message key '{key}' does not match order_id '{orderId}'"));
    }

    private static ConsumeResult<byte[]?, byte[]?> Raw(string key, byte[] value, params (string Name, string Value)[] headers) =>
        ProbeMessages.Consumed(key, value, ProbeMessages.HeadersOf(headers));
}
