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
            // Embedded broker: every millisecond of linger is latency on each of the flow's hops.
            LingerMs = Options.UsingEmbeddedBroker ? 1 : 5,
            BatchNumMessages = 10_000,
            SocketNagleDisable = true,
        };
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
        };
        if (Options.UsingEmbeddedBroker)
        {
            // The mock broker holds an empty Fetch for the whole fetch.wait.max.ms even when data
            // arrives meanwhile; librdkafka's 500 ms default would cost half a second per hop.
            config.FetchWaitMaxMs = 10;
            // A killed process keeps its partitions until its session expires (45 s by default).
            config.SessionTimeoutMs = 6_000;
            config.HeartbeatIntervalMs = 1_000;
        }
        Apply(config);
        return config;
    }

    public AdminClientConfig AdminConfig()
    {
        var config = new AdminClientConfig { BootstrapServers = Options.BootstrapServers, ClientId = "orderflow-admin" };
        Apply(config);
        return config;
    }

    public IConsumer<byte[]?, byte[]?> CreateRawConsumer(string groupId, Action<ConsumerBuilder<byte[]?, byte[]?>>? configure = null)
    {
        // Raw bytes in, parsed inside the loop: a throwing deserializer would move the position
        // past the message and lose it instead of dead-lettering it (confluent-kafka-dotnet #1421).
        var builder = new ConsumerBuilder<byte[]?, byte[]?>(ConsumerConfig(groupId))
            .SetKeyDeserializer(Deserializers.ByteArray)
            .SetValueDeserializer(Deserializers.ByteArray);
        configure?.Invoke(builder);
        return builder.Build();
    }

    private void Apply(ClientConfig config)
    {
        foreach (var (key, value) in Options.Properties) config.Set(key, value);
    }
}
