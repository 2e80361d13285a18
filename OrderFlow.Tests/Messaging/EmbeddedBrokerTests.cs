using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Confluent.Kafka;
using Microsoft.Extensions.Options;
using OrderFlow.Contracts;
using OrderFlow.Host.Broker;
using OrderFlow.Messaging;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.Messaging;

/// <summary>SPEC §2: the embedded broker is Kafka to anyone on a fixed loopback port.</summary>
[TestFixture]
public sealed class EmbeddedBrokerTests
{
    [Test]
    public async Task Start_WhenThePortIsFree_ServesEveryTopicWithTheConfiguredPartitions()
    {
        var port = HostProcess.FreePort();
        await using var broker = EmbeddedBroker.Start(port, 5);

        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = $"127.0.0.1:{port}" }).Build();
        var metadata = admin.GetMetadata(TimeSpan.FromSeconds(10));

        Assert.That(broker.Port, Is.EqualTo(port));
        Assert.That(metadata.Topics.Select(t => t.Topic), Is.SupersetOf(TopicLayout.Default.All));
        Assert.That(metadata.Topics.Where(t => TopicLayout.Default.All.Contains(t.Topic)).Select(t => t.Partitions.Count), Is.All.EqualTo(5));
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task Clients_BootstrapOnTheFixedPort_AndTalkToTheAdvertisedListenerUnlessEverythingIsRelayed(bool relayAll)
    {
        var port = HostProcess.FreePort();
        await using var broker = EmbeddedBroker.Start(port, 2, relayAllConnections: relayAll);
        var bootstrap = $"127.0.0.1:{port}";

        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = bootstrap }).Build();
        var advertised = admin.GetMetadata(TimeSpan.FromSeconds(10)).Brokers.Single();
        using (var producer = new ProducerBuilder<string, string>(new ProducerConfig { BootstrapServers = bootstrap }).Build())
            await producer.ProduceAsync(Topics.OrderEvents, new Message<string, string> { Key = "ORD-1", Value = "through the advertised address" });
        using var consumer = new ConsumerBuilder<string, string>(new ConsumerConfig
        {
            BootstrapServers = bootstrap, GroupId = "advertised-" + relayAll, AutoOffsetReset = AutoOffsetReset.Earliest,
        }).Build();
        consumer.Subscribe(Topics.OrderEvents);
        var read = consumer.Consume(TimeSpan.FromSeconds(20));
        consumer.Close();

        Assert.Multiple(() =>
        {
            Assert.That(advertised.Host, Is.EqualTo("127.0.0.1"), "a loopback address, as reachable as the fixed port");
            if (relayAll) Assert.That(advertised.Port, Is.EqualTo(port), "every connection through the fixed port");
            else Assert.That(advertised.Port, Is.Not.EqualTo(port), "the broker's own listener: no relay hop");
            Assert.That(broker.AdvertisedPort, Is.EqualTo(advertised.Port), "what the start-up line names");
            Assert.That(read?.Message.Value, Is.EqualTo("through the advertised address"));
        });
    }

    [Test]
    public async Task CreateTopic_WhenCalledTwice_IsIdempotent()
    {
        await using var broker = EmbeddedBroker.Start(0, 2);

        Assert.DoesNotThrow(() => broker.CreateTopic(Topics.OrderEvents, 2));
        Assert.DoesNotThrow(() => broker.CreateTopic("extra-topic", 2));
        Assert.DoesNotThrow(() => broker.CreateTopic("extra-topic", 2));
    }

    [Test]
    public async Task Connect_WhenAnotherProcessServesThePort_JoinsItInsteadOfStartingOne()
    {
        await using var first = EmbeddedBroker.Start(0, 2);

        await using var connection = await BrokerConnector.ConnectAsync(new KafkaOptions { EmbeddedPort = first.Port });

        Assert.That(connection.OwnedBroker, Is.Null);
        Assert.That(connection.BootstrapServers, Is.EqualTo($"127.0.0.1:{first.Port}"));
        Assert.That(connection.Announcement, Does.StartWith("Joined the embedded Kafka broker"));
    }

    [Test]
    public async Task Connect_WhenTheBrokerLacksTheConfiguredStatusTopic_FailsNamingItAndTheSetting()
    {
        await using var first = EmbeddedBroker.Start(0, 2);

        var ex = Assert.ThrowsAsync<OptionsValidationException>(() =>
            BrokerConnector.ConnectAsync(new KafkaOptions { EmbeddedPort = first.Port, OrderStatusTopic = "order-status" }));

        Assert.That(ex!.Message, Does.Contain("order-status, order-status.dlq").And.Contain("Kafka:OrderStatusTopic"));
    }

    [Test]
    public async Task Connect_WhenTheBrokerHasAStatusTopicThisProcessWouldNotUse_FailsNamingItAndTheSetting()
    {
        await using var first = EmbeddedBroker.Start(0, 2, new TopicLayout("order-status").All);

        var ex = Assert.ThrowsAsync<OptionsValidationException>(() => BrokerConnector.ConnectAsync(new KafkaOptions { EmbeddedPort = first.Port }));

        Assert.That(ex!.Message, Does.Contain("status topic order-status").And.Contain("Kafka:OrderStatusTopic=order-status")
            .And.Contain("this one has 'order-events'"));
    }

    [Test]
    public async Task Connect_WhenTheBrokerHasTheSameStatusTopic_JoinsIt()
    {
        await using var first = EmbeddedBroker.Start(0, 2, new TopicLayout("order-status").All);

        await using var connection = await BrokerConnector.ConnectAsync(new KafkaOptions { EmbeddedPort = first.Port, OrderStatusTopic = "order-status" });

        Assert.That(connection.Announcement, Does.StartWith("Joined the embedded Kafka broker"));
    }

    [Test]
    public void Connect_WhenNoClusterAnswersAtTheBootstrapServers_FailsNamingTheSettingAndWhatToDo()
    {
        var address = $"127.0.0.1:{HostProcess.FreePort()}";

        var ex = Assert.ThrowsAsync<OptionsValidationException>(() => BrokerConnector.ConnectAsync(new KafkaOptions { BootstrapServers = address }));

        Assert.That(ex!.Message, Does.StartWith($"No Kafka cluster answers at {address} (Kafka:BootstrapServers)").And.Contain("docker compose up -d"));
    }

    [Test]
    public async Task Connect_WhenThePortIsFree_StartsTheBrokerAndSaysItKeepsDataInMemory()
    {
        var port = HostProcess.FreePort();

        await using var connection = await BrokerConnector.ConnectAsync(new KafkaOptions { EmbeddedPort = port });

        Assert.That(connection.OwnedBroker, Is.Not.Null);
        Assert.That(connection.Announcement, Does.Contain($"listening on 127.0.0.1:{port}").And.Contain("in memory only")
            .And.Contain($"advertising its own listener 127.0.0.1:{connection.OwnedBroker!.AdvertisedPort}"));
    }

    [Test]
    public void Connect_WhenThePortIsTakenBySomethingElse_FailsNamingThePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        try
        {
            var ex = Assert.ThrowsAsync<OptionsValidationException>(() => BrokerConnector.ConnectAsync(new KafkaOptions { EmbeddedPort = port }));
            Assert.That(ex!.Message, Does.Contain(port.ToString()).And.Contain("Kafka:EmbeddedPort"));
        }
        finally
        {
            listener.Stop();
        }
    }

    [Test]
    public async Task BrokerVerb_WhenRun_PrintsItsAddressAndServesKafka()
    {
        var port = HostProcess.FreePort();
        await using var process = HostProcess.Start("broker", $"--Kafka:EmbeddedPort={port}");

        var line = await process.WaitForLineAsync("Embedded Kafka broker listening on");

        Assert.That(line, Does.Contain($"127.0.0.1:{port}").And.Contain("in memory only"));
        Assert.That(BrokerConnector.AnswersAsKafka($"127.0.0.1:{port}"), Is.True);
    }

    [Test]
    public async Task Kcat_WhenPointedAtTheEmbeddedBroker_ListsTopicsAndReadsAnEventByteForByte()
    {
        if (!File.Exists("/usr/bin/kcat")) Assert.Ignore("kcat is not installed (.ci/run installs Debian's kcat)");
        await using var broker = EmbeddedBroker.Start(0, 2);
        var directory = Path.Combine(Path.GetTempPath(), "orderflow-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        await using var probe = await ProbeHost.StartAsync(broker.BootstrapServers, Path.Combine(directory, "probe.db"), "kcat-probe", Topics.OrderEvents);
        OrderCreated evt = Builders.AnOrderCreated().WithItem("PROD-001", 2, 99.99m);
        await probe.AddToOutboxAsync(evt);
        await Eventually.Until(async () => (await probe.ApplicationsAsync()).Count == 1, "the event to be published and consumed");

        var listing = await RunAsync("kcat", "-b", broker.BootstrapServers, "-L");
        Assert.That(TopicLayout.Default.All.All(t => listing.Text.Contains($"topic \"{t}\"")), Is.True, listing.Text);

        var read = await RunAsync("kcat", "-b", broker.BootstrapServers, "-C", "-t", Topics.OrderEvents, "-o", "beginning", "-e", "-q", "-f", "%k\t%h\t%s\n");
        var line = read.Text.Split('\n').Single(l => l.StartsWith(evt.OrderId + "\t", StringComparison.Ordinal));
        var parts = line.Split('\t');
        Assert.That(parts[1], Does.Contain("event_type=OrderCreated").And.Contain($"event_id={evt.EventId}"));
        var payload = System.Text.Encoding.UTF8.GetBytes(parts[2]);
        var published = System.Text.Json.JsonDocument.Parse(payload).RootElement.GetProperty("trace_id").GetString();
        Assert.That(payload, Is.EqualTo(EventJson.Serialize(evt with { TraceId = published })));
    }

    private static async Task<(int Exit, string Text)> RunAsync(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await process.WaitForExitAsync(cts.Token);
        return (process.ExitCode, await output + await error);
    }
}

/// <summary>Topic creation on a real cluster goes through the AdminClient and is idempotent.</summary>
[TestFixture]
[Category("Docker")]
public sealed class RealClusterTopicTests
{
    [Test]
    public async Task EnsureTopics_WhenRunTwiceOnARealCluster_CreatesEveryTopicOnceWithThePartitionCount()
    {
        var broker = await TestBroker.ForAsync(TestBroker.Docker);
        var config = new AdminClientConfig { BootstrapServers = broker.BootstrapServers };

        await BrokerConnector.EnsureTopicsAsync(config, 6, 1, CancellationToken.None);
        await BrokerConnector.EnsureTopicsAsync(config, 6, 1, CancellationToken.None);

        using var admin = new AdminClientBuilder(config).Build();
        var metadata = admin.GetMetadata(TimeSpan.FromSeconds(10));
        Assert.That(metadata.Topics.Where(t => TopicLayout.Default.All.Contains(t.Topic)).Select(t => t.Partitions.Count), Is.EqualTo(Enumerable.Repeat(6, TopicLayout.Default.All.Count)));
    }
}
