using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using OrderFlow.Contracts;
using OrderFlow.Messaging;

namespace OrderFlow.Tests.Contracts;

/// <summary>Where each event goes: SPEC §3's topics by default, the status changes elsewhere only when configured.</summary>
[TestFixture]
public sealed class TopicLayoutTests
{
    [Test]
    public void Default_IsSpecLayout()
    {
        var layout = new KafkaOptions().Layout;

        Assert.That(layout.OrderStatus, Is.EqualTo("order-events"));
        Assert.That(layout.EventTopics, Is.EqualTo(new[] { "order-events", "inventory-events", "payment-events", "notification" }));
        Assert.That(layout.All, Is.EquivalentTo(layout.EventTopics.Concat(layout.EventTopics.Select(t => t + ".dlq"))));
        Assert.That(EventCatalog.Types.Values.Select(layout.TopicOf), Is.EqualTo(EventCatalog.Types.Values.Select(EventCatalog.TopicOf)));
    }

    [Test]
    public void OwnStatusTopic_MovesOnlyTheStatusChangesAndAddsTheTopicAndItsDeadLetters()
    {
        var layout = new KafkaOptions { OrderStatusTopic = "order-status" }.Layout;

        foreach (var type in EventCatalog.Types.Values)
            Assert.That(layout.TopicOf(type), Is.EqualTo(type == typeof(OrderStatusChanged) ? "order-status" : EventCatalog.TopicOf(type)), type.Name);
        Assert.That(layout.EventTopics, Is.EqualTo(new[] { "order-events", "inventory-events", "payment-events", "notification", "order-status" }));
        Assert.That(layout.All, Does.Contain("order-status").And.Contain("order-status.dlq").And.Contain("order-events.dlq"));
    }

    [TestCase("", "empty")]
    [TestCase("order status", "not a Kafka topic name")]
    [TestCase("order-status.dlq", "suffix of dead-letter topics")]
    [TestCase("payment-events", "another module's topic")]
    [TestCase("notification", "another module's topic")]
    public void BadStatusTopic_IsRefusedWithTheReason(string topic, string reason)
    {
        var options = new KafkaOptions { OrderStatusTopic = topic };

        var error = Assert.Throws<OptionsValidationException>(() => _ = options.Layout)!;
        Assert.That(error.Message, Does.Contain("Kafka:OrderStatusTopic").And.Contain(reason));
    }

    [Test]
    public void BadStatusTopic_FailsTheOptionsValidationAtStart()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Kafka:OrderStatusTopic"] = "x.dlq" }).Build();
        using var services = new ServiceCollection().AddMessaging(configuration).BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => _ = services.GetRequiredService<IOptions<KafkaOptions>>().Value)!;
        Assert.That(error.Message, Does.Contain("Kafka:OrderStatusTopic"));
    }
}
