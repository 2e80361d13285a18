using System.Text;
using Confluent.Kafka;
using Microsoft.Extensions.Options;
using OrderFlow.Messaging;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.Messaging;

/// <summary>
/// The producer compresses its batches with lz4 (twenty-seventh session); a consumer reads a
/// partition whose batches came compressed and uncompressed alike (older data, another tool), in order.
/// </summary>
[TestFixture]
public sealed class CompressionTests
{
    [Test]
    public void ProducerConfig_CompressesWithLz4_UnlessKafkaPropertiesSayOtherwise()
    {
        var byDefault = new KafkaClientFactory(Options.Create(new KafkaOptions()));
        var overridden = new KafkaClientFactory(Options.Create(new KafkaOptions { Properties = new() { ["compression.type"] = "none" } }));

        Assert.That(byDefault.ProducerConfig().CompressionType, Is.EqualTo(CompressionType.Lz4));
        Assert.That(overridden.ProducerConfig().CompressionType, Is.EqualTo(CompressionType.None));
    }

    [Test]
    public void Consumer_ReadsCompressedAndUncompressedBatchesOfOnePartition_InOrder()
    {
        var topic = $"compression-{Guid.NewGuid():N}"[..24];
        SharedBroker.Instance.CreateTopic(topic, 1);
        KafkaClientFactory Clients(Dictionary<string, string> properties) => new(Options.Create(new KafkaOptions
        {
            BootstrapServers = SharedBroker.Instance.BootstrapServers, UsingEmbeddedBroker = true, Properties = properties,
        }));
        var compressing = Clients([]);
        var plain = Clients(new() { ["compression.type"] = "none" });
        // Repetitive JSON, as events are: lz4 has something to take out.
        var items = string.Join(',', Enumerable.Repeat("""{"product_id":"PROD-001","quantity":1,"price":9.99}""", 20));
        string Payload(int i) => $$"""{"event_type":"OrderCreated","order_id":"ORD-{{i:D6}}","items":[{{items}}]}""";

        var sent = new List<string>();
        foreach (var (clients, from) in new[] { (plain, 0), (compressing, 100), (plain, 200), (compressing, 300) })
        {
            using var producer = new ProducerBuilder<byte[]?, byte[]?>(clients.ProducerConfig()).Build();
            for (var i = from; i < from + 100; i++)
            {
                sent.Add(Payload(i));
                producer.Produce(topic, new Message<byte[]?, byte[]?> { Key = Encoding.UTF8.GetBytes("ORD-1"), Value = Encoding.UTF8.GetBytes(Payload(i)) });
            }
            producer.Flush(TimeSpan.FromSeconds(10));
        }

        using var consumer = compressing.CreateRawConsumer($"compression-test-{Guid.NewGuid():N}");
        consumer.Subscribe(topic);
        var received = new List<string>();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (received.Count < sent.Count && DateTime.UtcNow < deadline)
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(200)) is { } result) received.Add(Encoding.UTF8.GetString(result.Message.Value!));
        }
        consumer.Close();

        Assert.That(received, Is.EqualTo(sent));
    }
}
