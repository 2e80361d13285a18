using Microsoft.Extensions.Configuration;
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

    /// <summary>Replication factor of topics created on a real cluster; -1 takes the cluster's default.</summary>
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
    public static OptionsValidationException Invalid(string problem) => Invalid([problem]);

    private static OptionsValidationException Invalid(IEnumerable<string> problems) => new(Options.DefaultName, typeof(KafkaOptions), problems);

    /// <summary>What is wrong with these settings: ranges, the status topic, the replication factor. Empty when nothing is.</summary>
    public IEnumerable<string> Problems()
    {
        // Checked here rather than with [Range]: DataAnnotations reads every property, Layout too,
        // which throws for a bad status topic before its problem could be listed with the others.
        if (EmbeddedPort is < 0 or > 65535) yield return $"Kafka:EmbeddedPort {EmbeddedPort} must be between 0 (any free port) and 65535";
        if (Partitions is < 1 or > 1000) yield return $"Kafka:Partitions {Partitions} must be between 1 and 1000";
        if (EmbeddedRetentionIntervalMs < 0) yield return $"Kafka:EmbeddedRetentionIntervalMs {EmbeddedRetentionIntervalMs} must be 0 (off) or more";
        if (TopicLayout.Problem(OrderStatusTopic) is { } layoutProblem) yield return layoutProblem;
        if (ReplicationFactor is 0 or < -1) yield return $"Kafka:ReplicationFactor {ReplicationFactor} must be at least 1, or -1 for the cluster's default";
    }

    /// <summary>
    /// The <c>Kafka</c> section, bound and checked the way the host's options are: the broker is
    /// connected before the host is built, so these settings are read here, not through
    /// <c>IOptions</c>. Throws <see cref="OptionsValidationException"/> naming every problem.
    /// </summary>
    public static KafkaOptions Read(IConfiguration configuration)
    {
        var section = configuration.GetSection(Section);
        var options = section.Get<KafkaOptions>() ?? new KafkaOptions();
        var problems = KnownSettings.Problems(section, typeof(KafkaOptions)).Concat(options.Problems()).ToList();
        return problems.Count > 0 ? throw Invalid(problems) : options;
    }

    public bool IsEmbedded => string.IsNullOrWhiteSpace(BootstrapServers)
        || string.Equals(BootstrapServers, EmbeddedValue, StringComparison.OrdinalIgnoreCase);
}
