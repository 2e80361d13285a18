using System.Net.Sockets;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using OrderFlow.Contracts;
using OrderFlow.Messaging;

namespace OrderFlow.Host.Broker;

/// <summary>What the host connected to, and the one line it says about it at start-up.</summary>
public sealed record BrokerConnection(string BootstrapServers, EmbeddedBroker? OwnedBroker, bool Embedded, string Announcement) : IAsyncDisposable
{
    public ValueTask DisposeAsync() => OwnedBroker?.DisposeAsync() ?? ValueTask.CompletedTask;
}

/// <summary>
/// Decides where Kafka is: a real cluster (topics created with the AdminClient, idempotently),
/// or the embedded broker — started here when its port is free, joined when another OrderFlow
/// process already serves it.
/// </summary>
public static class BrokerConnector
{
    public static async Task<BrokerConnection> ConnectAsync(KafkaOptions options, CancellationToken cancellationToken = default)
    {
        if (!options.IsEmbedded)
        {
            try
            {
                await EnsureTopicsAsync(new KafkaClientFactory(Microsoft.Extensions.Options.Options.Create(options)).AdminConfig(),
                    options.Partitions, options.ReplicationFactor, cancellationToken, options.Layout.All);
            }
            catch (KafkaException ex) when (ex.Error.IsLocalError)
            {
                // Nothing answered (or not as Kafka, or not with these credentials): librdkafka's log
                // above says what it met; this line says which setting to look at.
                throw KafkaOptions.Invalid(
                    $"No Kafka cluster answers at {options.BootstrapServers} (Kafka:BootstrapServers): {ex.Error.Reason}. "
                    + "Start it (docker compose up -d), check Kafka:Properties for TLS or SASL, or set Kafka:BootstrapServers=embedded.");
            }
            return new BrokerConnection(options.BootstrapServers, null, false, $"Using the Kafka cluster at {options.BootstrapServers}");
        }

        try
        {
            var broker = EmbeddedBroker.Start(options.EmbeddedPort, options.Partitions, options.Layout.All, options.EmbeddedRelayAllConnections);
            return new BrokerConnection(broker.BootstrapServers, broker, true, broker.Describe());
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            var address = $"127.0.0.1:{options.EmbeddedPort}";
            if (Probe(address, options) is not { Brokers.Count: > 0 } metadata)
                throw KafkaOptions.Invalid(
                    $"Port {options.EmbeddedPort} is taken by something that does not answer as Kafka; set Kafka:EmbeddedPort to a free port.");
            // The mock cannot create topics for a client, so a process whose layout names a topic
            // the broker's owner did not create would publish into nothing.
            var served = metadata.Topics.Where(t => !t.Error.IsError).Select(t => t.Topic).ToHashSet();
            var missing = options.Layout.All.Except(served).ToList();
            if (missing.Count > 0)
                throw KafkaOptions.Invalid(
                    $"The embedded broker at {address} has no topic {string.Join(", ", missing)}: the process that runs it has another "
                    + $"Kafka:OrderStatusTopic (this one has '{options.OrderStatusTopic}'). Every OrderFlow process on one broker needs the same value.");
            // The other way round: the owner created a status topic this process would not use, so
            // its status changes would go to order-events while the owner's Notification reads
            // the other topic. A topic and its .dlq beside OrderFlow's own is that topic's mark
            // (no client can create topics on the mock; its owner created both).
            if (served.Where(t => !options.Layout.All.Contains(t) && served.Contains(Topics.DeadLetter(t)) && TopicLayout.Problem(t) is null).Order().FirstOrDefault() is { } other)
                throw KafkaOptions.Invalid(
                    $"The embedded broker at {address} has the status topic {other} (and {Topics.DeadLetter(other)}): the process that runs it has "
                    + $"Kafka:OrderStatusTopic={other} (this one has '{options.OrderStatusTopic}'). Every OrderFlow process on one broker needs the same value.");
            return new BrokerConnection(address, null, true,
                $"Joined the embedded Kafka broker at {address}, served by another OrderFlow process (data is kept in its memory only)");
        }
    }

    public static bool AnswersAsKafka(string bootstrapServers, KafkaOptions? options = null) =>
        Probe(bootstrapServers, options) is { Brokers.Count: > 0 };

    /// <summary>The cluster's metadata (brokers and topics), or null when nothing answers as Kafka within 3 s.</summary>
    private static Metadata? Probe(string bootstrapServers, KafkaOptions? options)
    {
        // Through the factory, like every other client, so Kafka:Properties (SASL, TLS) apply here too.
        var probe = new KafkaOptions { BootstrapServers = bootstrapServers, Properties = options?.Properties ?? [] };
        var config = new KafkaClientFactory(Microsoft.Extensions.Options.Options.Create(probe)).AdminConfig();
        config.SocketTimeoutMs = 3_000;
        try
        {
            using var admin = new AdminClientBuilder(config).SetLogHandler((_, _) => { }).Build();
            return admin.GetMetadata(TimeSpan.FromSeconds(3));
        }
        catch (KafkaException)
        {
            return null;
        }
    }

    /// <summary>Creates every OrderFlow topic (<paramref name="topics"/>, SPEC §3's layout when null) that does not exist yet; existing topics are left as they are.</summary>
    public static async Task EnsureTopicsAsync(AdminClientConfig config, int partitions, short replicationFactor, CancellationToken cancellationToken, IEnumerable<string>? topics = null)
    {
        using var admin = new AdminClientBuilder(config).Build();
        var existing = admin.GetMetadata(TimeSpan.FromSeconds(15)).Topics.Where(t => !t.Error.IsError).Select(t => t.Topic).ToHashSet();
        var missing = (topics ?? TopicLayout.Default.All).Where(t => !existing.Contains(t))
            .Select(t => new TopicSpecification { Name = t, NumPartitions = partitions, ReplicationFactor = replicationFactor })
            .ToList();
        if (missing.Count == 0) return;
        try
        {
            await admin.CreateTopicsAsync(missing).WaitAsync(cancellationToken);
        }
        catch (CreateTopicsException ex) when (ex.Results.All(r => r.Error.Code is ErrorCode.NoError or ErrorCode.TopicAlreadyExists))
        {
            // Another process created them first.
        }
    }
}
