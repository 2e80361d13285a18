using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Confluent.Kafka;
using OrderFlow.Contracts;

namespace OrderFlow.Host.Broker;

/// <summary>
/// The embedded broker: librdkafka's mock cluster (one broker, real Kafka wire protocol, data in
/// memory only), reachable on a fixed loopback port through <see cref="TcpRelay"/>.
/// </summary>
/// <remarks>
/// The mock listens on an ephemeral loopback port, and a client talks to the address a broker
/// advertises once it has bootstrapped. By default the broker advertises that listener of its own:
/// clients bootstrap on the fixed port and then talk to the broker directly, which is as reachable
/// (the same loopback) and spares every request and response a pass through the relay: 2–7 % of
/// the CPU at full speed, 11–30 % of the p50 latency at 2,500 orders/s (docs/benchmarks.md). With
/// <c>relayAllConnections</c> (<c>Kafka:EmbeddedRelayAllConnections</c>) the broker advertises the
/// fixed port instead, so every connection goes through the relay: for clients that reach only that
/// port (a port forwarded from another machine with <c>ssh -L</c>, say).
/// </remarks>
public sealed class EmbeddedBroker : IAsyncDisposable
{
    public const int BrokerId = 1;

    private readonly IntPtr handle;
    private readonly IntPtr cluster;
    private readonly TcpRelay relay;
    private int disposed;

    private EmbeddedBroker(IntPtr handle, IntPtr cluster, TcpRelay relay, int advertisedPort)
    {
        this.handle = handle;
        this.cluster = cluster;
        this.relay = relay;
        AdvertisedPort = advertisedPort;
    }

    /// <summary>The fixed port: where clients find the broker.</summary>
    public int Port => relay.Port;

    /// <summary>
    /// The port the broker advertises, which clients talk to once they found it: its own
    /// listener's, or <see cref="Port"/> when every connection is relayed.
    /// </summary>
    public int AdvertisedPort { get; }

    public string BootstrapServers => $"127.0.0.1:{Port}";

    /// <summary>The start-up line's description: where clients find the broker and where they then talk to it.</summary>
    public string Describe() =>
        $"Embedded Kafka broker listening on {BootstrapServers}"
        + (AdvertisedPort == Port ? "" : $", advertising its own listener 127.0.0.1:{AdvertisedPort}")
        + " (librdkafka mock cluster; data is kept in memory only and lost when this process exits)";

    /// <summary>
    /// Starts a mock cluster and binds <paramref name="port"/> (0 picks a free one). Creates
    /// <paramref name="topics"/> (SPEC §3's layout when null) with <paramref name="partitions"/> partitions each.
    /// <paramref name="relayAllConnections"/>: every connection through the fixed port (the class's remarks).
    /// Throws <see cref="SocketException"/> when the port is taken.
    /// </summary>
    public static EmbeddedBroker Start(int port, int partitions, IEnumerable<string>? topics = null, bool relayAllConnections = false)
    {
        Librdkafka.EnsureLoaded();
        var errstr = new byte[512];
        var conf = Librdkafka.rd_kafka_conf_new();
        Librdkafka.rd_kafka_conf_set(conf, "log_level", "3", errstr, (nuint)errstr.Length);
        var rk = Librdkafka.rd_kafka_new(Librdkafka.RdKafkaProducer, conf, errstr, (nuint)errstr.Length);
        if (rk == IntPtr.Zero) throw new InvalidOperationException($"rd_kafka_new failed: {Librdkafka.Error(errstr)}");
        var cluster = Librdkafka.rd_kafka_mock_cluster_new(rk, 1);
        if (cluster == IntPtr.Zero)
        {
            Librdkafka.rd_kafka_destroy(rk);
            throw new InvalidOperationException("rd_kafka_mock_cluster_new failed");
        }

        var bootstraps = Marshal.PtrToStringUTF8(Librdkafka.rd_kafka_mock_cluster_bootstraps(cluster))!;
        var internalPort = int.Parse(bootstraps.Split(',')[0].Split(':')[^1], System.Globalization.CultureInfo.InvariantCulture);
        TcpRelay relay;
        try
        {
            relay = TcpRelay.Start(port, new IPEndPoint(IPAddress.Loopback, internalPort));
        }
        catch
        {
            Librdkafka.rd_kafka_mock_cluster_destroy(cluster);
            Librdkafka.rd_kafka_destroy(rk);
            throw;
        }
        if (relayAllConnections) Librdkafka.rd_kafka_mock_broker_set_host_port(cluster, BrokerId, "127.0.0.1", relay.Port);
        // Consumers join at once instead of after the 3 s default delay of the first rebalance.
        Librdkafka.rd_kafka_mock_group_initial_rebalance_delay_ms(cluster, 0);

        var broker = new EmbeddedBroker(rk, cluster, relay, relayAllConnections ? relay.Port : internalPort);
        foreach (var topic in topics ?? TopicLayout.Default.All) broker.CreateTopic(topic, partitions);
        return broker;
    }

    /// <summary>The mock has no admin CreateTopics; topics are created through its own API. Idempotent.</summary>
    public void CreateTopic(string topic, int partitions)
    {
        var err = Librdkafka.rd_kafka_mock_topic_create(cluster, topic, partitions, 1);
        if (err != 0 && err != (int)ErrorCode.TopicAlreadyExists)
            throw new InvalidOperationException($"creating topic {topic} failed: {(ErrorCode)err}");
    }

    /// <summary>Fault injection: the next <paramref name="errors"/> requests of <paramref name="apiKey"/> fail with those codes.</summary>
    public void PushRequestErrors(short apiKey, params ErrorCode[] errors) =>
        Librdkafka.rd_kafka_mock_push_request_errors_array(cluster, apiKey, (nuint)errors.Length, errors.Select(e => (int)e).ToArray());

    /// <summary>Drops the records of a partition before <paramref name="beforeOffset"/> (see <see cref="EmbeddedBrokerRetention"/>).</summary>
    public ErrorCode DeleteRecords(string topic, int partition, long beforeOffset) =>
        (ErrorCode)Librdkafka.rd_kafka_mock_partition_delete_records(cluster, topic, partition, beforeOffset);

    public void SetDown() => Librdkafka.rd_kafka_mock_broker_set_down(cluster, BrokerId);
    public void SetUp() => Librdkafka.rd_kafka_mock_broker_set_up(cluster, BrokerId);
    public void SetRoundTripTime(TimeSpan rtt) => Librdkafka.rd_kafka_mock_broker_set_rtt(cluster, BrokerId, (int)rtt.TotalMilliseconds);

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) == 1) return;
        await relay.DisposeAsync();
        Librdkafka.rd_kafka_mock_cluster_destroy(cluster);
        Librdkafka.rd_kafka_destroy(handle);
    }
}

/// <summary>Kafka API keys used for fault injection.</summary>
public static class KafkaApiKey
{
    public const short Produce = 0;
    public const short Fetch = 1;
}
