using Confluent.Kafka;
using Microsoft.Extensions.Options;

namespace OrderFlow.Messaging;

/// <summary>
/// Builds every Kafka client's configuration in one place. Delivery semantics are fixed here, in
/// code: consumers never auto-store offsets (the loop stores offset+1 after the database commit,
/// see confluent-kafka-dotnet #31 and #1918); auto-commit then only commits what was stored.
/// </summary>
public sealed class KafkaClientFactory(IOptions<KafkaOptions> options)
{
    public KafkaOptions Options => options.Value;

    public ProducerConfig ProducerConfig()
    {
        var config = new ProducerConfig
        {
            BootstrapServers = Options.BootstrapServers,
            ClientId = "orderflow",
            EnableIdempotence = true,
            Acks = Acks.All,
            BatchNumMessages = 10_000,
            SocketNagleDisable = true,
            // Callers read only a delivery report's error (the relay) or await the send (dead
            // letters, dlq replay); none reads the message back from a report or result. By
            // default Confluent.Kafka fills it in, copying the headers (new name strings and value
            // arrays) and the timestamp out of librdkafka: ~5 % of all allocations at full speed
            // (docs/benchmarks.md).
            DeliveryReportFields = "status",
            // JSON events compress well and batches are compressed whole: fewer bytes through the
            // sockets and in the broker, for a little CPU in the producer and the consumers. On
            // the embedded broker ~8 % more orders/s, ~8 % less CPU per order and ~65 MB less RSS
            // (the mock keeps the batches as sent); zstd did less (docs/benchmarks.md,
            // twenty-seventh session). A real cluster stores them compressed as well.
            CompressionType = CompressionType.Lz4,
        };
        if (Options.UsingEmbeddedBroker) EmbeddedTuning.Apply(config);
        else ClusterTuning.Apply(config);
        Apply(config);
        return config;
    }

    public ConsumerConfig ConsumerConfig(string groupId)
    {
        var config = new ConsumerConfig
        {
            BootstrapServers = Options.BootstrapServers,
            GroupId = groupId,
            ClientId = groupId,
            EnableAutoCommit = true,
            AutoCommitIntervalMs = 500,
            EnableAutoOffsetStore = false,
            AutoOffsetReset = AutoOffsetReset.Earliest,
            SocketNagleDisable = true,
            EnablePartitionEof = false,
            // Nothing reads a consumed message's broker timestamp; without this Confluent.Kafka
            // asks librdkafka for it on every message (one more native call each).
            ConsumeResultFields = "headers,topic",
        };
        if (Options.UsingEmbeddedBroker) EmbeddedTuning.Apply(config);
        else ClusterTuning.Apply(config);
        Apply(config);
        return config;
    }

    /// <summary>
    /// The embedded broker: librdkafka's mock cluster in this process or next door, on loopback.
    /// Tuned for latency; measured in docs/benchmarks.md ("Client settings").
    /// </summary>
    internal static class EmbeddedTuning
    {
        public static void Apply(ProducerConfig config) =>
            // Every millisecond of linger is latency on each of the flow's four hops; on loopback
            // a request costs little, so batches form from what queues while one is in flight.
            config.LingerMs = 1;

        public static void Apply(ConsumerConfig config)
        {
            // The mock broker holds an empty Fetch for the whole fetch.wait.max.ms even when data
            // arrives meanwhile; librdkafka's 500 ms default would cost half a second per hop.
            config.FetchWaitMaxMs = 10;
            // A consumer whose prefetch queue is full waits fetch.queue.backoff.ms (1 s by
            // default) before fetching again: with the loop's bounded queues that is a stall.
            config.FetchQueueBackoffMs = 10;
            // Prefetch per consumer (default 64 MB). The loop's bounded queues push back into this
            // queue; 8 MB is ~16,000 events here and keeps four consumers' memory small.
            config.QueuedMaxMessagesKbytes = 8 * 1024;
            // A killed process keeps its partitions until its session expires (45 s by default).
            config.SessionTimeoutMs = 6_000;
            config.HeartbeatIntervalMs = 1_000;
        }
    }

    /// <summary>A real cluster: librdkafka's defaults except where noted; override through <c>Kafka:Properties</c>.</summary>
    internal static class ClusterTuning
    {
        public static void Apply(ProducerConfig config) =>
            // A few milliseconds buy fuller batches across the network.
            config.LingerMs = 5;

        public static void Apply(ConsumerConfig config)
        {
            // Real brokers answer a Fetch as soon as data arrives; 100 ms bounds the idle wait.
            config.FetchWaitMaxMs = 100;
            config.FetchQueueBackoffMs = 100;
            config.QueuedMaxMessagesKbytes = 32 * 1024;
        }
    }

    public AdminClientConfig AdminConfig()
    {
        var config = new AdminClientConfig { BootstrapServers = Options.BootstrapServers, ClientId = "orderflow-admin" };
        Apply(config);
        return config;
    }

    public IConsumer<byte[]?, byte[]?> CreateRawConsumer(string groupId, Action<ConsumerBuilder<byte[]?, byte[]?>>? configure = null, IDeserializer<byte[]?>? values = null)
    {
        // Raw bytes in, parsed inside the loop: a throwing deserializer would move the position
        // past the message and lose it instead of dead-lettering it (confluent-kafka-dotnet #1421).
        var builder = new ConsumerBuilder<byte[]?, byte[]?>(ConsumerConfig(groupId))
            .SetKeyDeserializer(Deserializers.ByteArray)
            .SetValueDeserializer(values ?? Deserializers.ByteArray);
        configure?.Invoke(builder);
        return builder.Build();
    }

    private void Apply(ClientConfig config)
    {
        foreach (var (key, value) in Options.Properties) config.Set(key, value);
    }
}
