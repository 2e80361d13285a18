using Microsoft.Extensions.Options;
using OrderFlow.Contracts;

namespace OrderFlow.Messaging;

/// <summary>Broker connection (<c>Kafka</c> section).</summary>
public sealed class KafkaOptions
{
    public const string Section = "Kafka";
    public const string EmbeddedValue = "embedded";

    /// <summary><c>embedded</c> (or empty) starts or joins the embedded broker; anything else is a real cluster's bootstrap list.</summary>
    public string BootstrapServers { get; set; } = EmbeddedValue;

    /// <summary>Loopback port of the embedded broker; other processes and third-party clients bootstrap here.</summary>
    public int EmbeddedPort { get; set; } = 19092;

    /// <summary>
    /// false (the default): clients find the embedded broker on <see cref="EmbeddedPort"/> and then
    /// talk to its own loopback listener (an ephemeral port it advertises), one hop less per request.
    /// true: it advertises <see cref="EmbeddedPort"/>, so every connection passes through that port,
    /// for clients that can reach only it (a port forwarded with <c>ssh -L</c>, say). Read by the
    /// process that starts the broker; one that joins it changes nothing by setting it.
    /// </summary>
    public bool EmbeddedRelayAllConnections { get; set; }

    /// <summary>Set by the host once it started or joined the embedded broker: enables the latency-tuned client settings.</summary>
    public bool UsingEmbeddedBroker { get; set; }

    /// <summary>
    /// How often the embedded broker drops records every reader has committed past (see
    /// <c>EmbeddedBrokerRetention</c>); 0 keeps everything up to the mock's own limit.
    /// </summary>
    public int EmbeddedRetentionIntervalMs { get; set; } = 1000;

    /// <summary>Partitions of every topic OrderFlow creates.</summary>
    public int Partitions { get; set; } = 12;

    /// <summary>Replication factor of topics created on a real cluster.</summary>
    public short ReplicationFactor { get; set; } = 1;

    /// <summary>
    /// librdkafka properties passed to every client unchanged: <c>security.protocol</c>,
    /// <c>sasl.mechanism</c>, <c>sasl.username</c>, <c>ssl.ca.location</c>… Put secrets in the
    /// environment (<c>Kafka__Properties__sasl.password</c>), never in appsettings.json.
    /// </summary>
    public Dictionary<string, string> Properties { get; set; } = new();

    /// <summary>
    /// Where the order status changes go: <c>order-events</c> (SPEC §3, the default) or a topic of
    /// their own, which Inventory and Payment then do not read (see <see cref="TopicLayout"/>).
    /// Every process on one broker must use the same value.
    /// </summary>
    public string OrderStatusTopic { get; set; } = Topics.OrderEvents;

    private TopicLayout? layout;

    /// <summary>The topics of <see cref="OrderStatusTopic"/>'s layout; throws <see cref="OptionsValidationException"/> when it names no usable topic.</summary>
    public TopicLayout Layout => layout is { } known && known.OrderStatus == OrderStatusTopic ? known
        : layout = TopicLayout.Problem(OrderStatusTopic) is { } problem ? throw Invalid(problem) : new TopicLayout(OrderStatusTopic);

    /// <summary>A problem of these settings, as options validation reports it (the host prints it in one line and does not start).</summary>
    public static OptionsValidationException Invalid(string problem) => new(Options.DefaultName, typeof(KafkaOptions), [problem]);

    public bool IsEmbedded => string.IsNullOrWhiteSpace(BootstrapServers)
        || string.Equals(BootstrapServers, EmbeddedValue, StringComparison.OrdinalIgnoreCase);
}
