using Confluent.Kafka;
using Microsoft.Extensions.Configuration;
using OrderFlow.Host;
using OrderFlow.Host.Broker;
using OrderFlow.Messaging;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.Messaging;

/// <summary>The embedded broker drops what every reader of a partition has committed past, and nothing else.</summary>
[TestFixture]
public sealed class EmbeddedBrokerRetentionTests
{
    private EmbeddedBroker broker = null!;
    private IAdminClient admin = null!;
    private IConsumer<Null, string> probe = null!;

    [SetUp]
    public void StartBroker()
    {
        broker = EmbeddedBroker.Start(0, 2, ["read", "unread"]);
        admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = broker.BootstrapServers }).Build();
        probe = new ConsumerBuilder<Null, string>(new ConsumerConfig { BootstrapServers = broker.BootstrapServers, GroupId = "probe" }).Build();
        using var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = broker.BootstrapServers, LingerMs = 5 }).Build();
        foreach (var topic in new[] { "read", "unread" })
            for (var partition = 0; partition < 2; partition++)
                for (var i = 0; i < 100; i++)
                    producer.Produce(new TopicPartition(topic, partition), new Message<Null, string> { Value = $"{topic}-{partition}-{i}" });
        producer.Flush(TimeSpan.FromSeconds(10));
    }

    [TearDown]
    public async Task StopBroker()
    {
        probe.Dispose();
        admin.Dispose();
        await broker.DisposeAsync();
    }

    [Test]
    public async Task Trim_CutsAPartitionAtTheLowestOffsetItsReadersCommitted_AndOnlyWhenAllOfThemHave()
    {
        var retention = new EmbeddedBrokerRetention(broker);
        retention.ExpectReader("fast", ["read"]);
        retention.ExpectReader("slow", ["read"]);
        Commit("fast", ("read", 0, 40), ("read", 1, 30));
        Commit("slow", ("read", 0, 20));

        var first = await retention.TrimAsync(admin);

        Assert.Multiple(() =>
        {
            Assert.That(first.Select(c => $"{c.Topic}/{c.Partition.Value}@{c.Offset.Value}"), Is.EqualTo(new[] { "read/0@20" }));
            Assert.That(Low("read", 0), Is.EqualTo(20), "cut at the slower reader");
            Assert.That(Low("read", 1), Is.Zero, "a reader has not committed on partition 1 yet");
            Assert.That(Low("unread", 0), Is.Zero, "a topic without readers keeps everything");
        });

        Commit("slow", ("read", 1, 10));
        var second = await retention.TrimAsync(admin);

        Assert.That(second.Select(c => $"{c.Topic}/{c.Partition.Value}@{c.Offset.Value}"), Is.EqualTo(new[] { "read/1@10" }));
        Assert.That(Low("read", 1), Is.EqualTo(10));
    }

    [Test]
    public async Task Trim_LeavesEveryRecordAReaderHasNotCommittedPast()
    {
        var retention = new EmbeddedBrokerRetention(broker);
        retention.ExpectReader("reader", ["read"]);
        Commit("reader", ("read", 0, 60), ("read", 1, 100));

        await retention.TrimAsync(admin);

        // The reader resumes where it committed and gets every record from there.
        using var reader = new ConsumerBuilder<Null, string>(new ConsumerConfig
        {
            BootstrapServers = broker.BootstrapServers, GroupId = "reader", AutoOffsetReset = AutoOffsetReset.Earliest, FetchWaitMaxMs = 10,
        }).Build();
        reader.Subscribe("read");
        var values = new List<string>();
        while (values.Count < 40 && reader.Consume(TimeSpan.FromSeconds(10)) is { } result) values.Add(result.Message.Value);
        Assert.That(values, Is.EqualTo(Enumerable.Range(60, 40).Select(i => $"read-0-{i}")));
    }

    [TestCase(true, 60)]
    [TestCase(false, 0)]
    public async Task BrokerKeeper_WhenItRunsEveryModule_CutsTheirTopicsAtWhatTheirGroupsCommitted(bool allModulesHere, long expectedLow)
    {
        // The host's modules are the readers; with one of them running elsewhere, its group is
        // unknown here and nothing may be dropped.
        var settings = new Dictionary<string, string?> { ["OrderFlow:Modules:Orders:Enabled"] = "true" };
        if (!allModulesHere) settings["OrderFlow:Modules:Notification:Enabled"] = "false";
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var registration = new EventConsumerRegistration("reader", ["read"]);
        Commit(registration.GroupId, ("read", 0, 60L), ("read", 1, 70L));
        var connection = new BrokerConnection(broker.BootstrapServers, broker, true, "");
        using var keeper = new BrokerKeeper(connection, [registration], configuration,
            new KafkaClientFactory(Microsoft.Extensions.Options.Options.Create(new KafkaOptions { BootstrapServers = broker.BootstrapServers, EmbeddedRetentionIntervalMs = 50 })),
            Microsoft.Extensions.Logging.Abstractions.NullLogger<BrokerKeeper>.Instance);

        await keeper.StartAsync(CancellationToken.None);
        if (allModulesHere) await Eventually.Until(() => Task.FromResult(Low("read", 0) > 0), "the partition to be cut");
        else await Task.Delay(500);
        await keeper.StopAsync(CancellationToken.None);

        Assert.That(Low("read", 0), Is.EqualTo(expectedLow));
    }

    private void Commit(string group, params (string Topic, int Partition, long Offset)[] offsets)
    {
        using var consumer = new ConsumerBuilder<Null, string>(new ConsumerConfig { BootstrapServers = broker.BootstrapServers, GroupId = group }).Build();
        consumer.Commit(offsets.Select(o => new TopicPartitionOffset(o.Topic, o.Partition, o.Offset)));
    }

    private long Low(string topic, int partition) =>
        probe.QueryWatermarkOffsets(new TopicPartition(topic, partition), TimeSpan.FromSeconds(5)).Low.Value;
}
