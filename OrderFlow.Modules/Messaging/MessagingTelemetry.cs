using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace OrderFlow.Messaging;

/// <summary>The names OpenTelemetry listens to.</summary>
public static class MessagingTelemetry
{
    public const string Name = "OrderFlow";
    public static readonly ActivitySource Source = new(Name);

    /// <summary>
    /// A span in the order's own trace (its W3C <paramref name="traceParent"/>) for work that no
    /// message started, such as the saga's deadline; log lines written inside it carry the order's
    /// trace id. Null when nobody listens.
    /// </summary>
    public static Activity? StartOrderActivity(string name, string? traceParent, string module, string orderId)
    {
        var activity = StartInTrace(name, ActivityKind.Internal, traceParent);
        if (activity is not { IsAllDataRequested: true }) return activity;
        activity.SetTag("orderflow.module", module);
        activity.SetTag("orderflow.order_id", orderId);
        return activity;
    }

    /// <summary>
    /// A span under <paramref name="traceParent"/> (a new trace when it is null or invalid), or null
    /// when nobody listens. The parent is remote: the span that sent the message, or the request that
    /// placed the order, ended elsewhere. A sampler treats a remote parent as the trace's entry here
    /// (OpenTelemetry's AlwaysOff still creates the span for it, unrecorded: the trace reaches the
    /// logs and the published events). Tag it only when <see cref="Activity.IsAllDataRequested"/>.
    /// </summary>
    internal static Activity? StartInTrace(string name, ActivityKind kind, string? traceParent)
    {
        if (!Source.HasListeners()) return null;
        ActivityContext.TryParse(traceParent, null, isRemote: true, out var parent);
        return StartInTrace(name, kind, parent);
    }

    /// <summary>The same under a <paramref name="parent"/> parsed already (a consumed message's); the default context starts a new trace.</summary>
    internal static Activity? StartInTrace(string name, ActivityKind kind, in ActivityContext parent) =>
        Source.HasListeners() ? Source.StartActivity(name, kind, parent) : null;
}

/// <summary>Messaging instruments, tagged by module. Exported by the host at <c>/metrics</c>.</summary>
public sealed class MessagingMetrics
{
    private readonly Counter<long> processed;
    private readonly Counter<long> failed;
    private readonly Counter<long> duplicates;
    private readonly Counter<long> retries;
    private readonly Counter<long> deadLetters;
    private readonly Counter<long> outboxPublished;
    private readonly Counter<long> reloads;
    private readonly Histogram<double> duration;
    private readonly ConcurrentDictionary<string, long> outboxBacklog = new();
    private readonly ConcurrentDictionary<string, IReadOnlyList<PartitionLag>> consumerLag = new();

    public MessagingMetrics(IMeterFactory meters)
    {
        var meter = meters.Create(MessagingTelemetry.Name);
        processed = meter.CreateCounter<long>("orderflow.messages.processed", "{message}", "Messages applied by a module");
        failed = meter.CreateCounter<long>("orderflow.messages.failed", "{message}", "Messages a module could not apply (dead-lettered)");
        duplicates = meter.CreateCounter<long>("orderflow.messages.duplicates", "{message}", "Redelivered messages skipped by the inbox");
        retries = meter.CreateCounter<long>("orderflow.messages.retries", "{attempt}", "Retried attempts after a transient failure");
        deadLetters = meter.CreateCounter<long>("orderflow.dead_letters", "{message}", "Messages sent to a dead-letter topic");
        outboxPublished = meter.CreateCounter<long>("orderflow.outbox.published", "{message}", "Outbox rows published");
        reloads = meter.CreateCounter<long>("orderflow.batches.reloaded", "{batch}", "Batches whose reads and handlers, run before the write turn, were dropped and applied again inside it because another transaction had changed the module's rows");
        duration = meter.CreateHistogram<double>("orderflow.message.processing.duration", "s", "Time to apply one message, its share of the batch transaction included",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] });
        meter.CreateObservableGauge("orderflow.outbox.backlog", () =>
            outboxBacklog.Select(kv => new Measurement<long>(kv.Value, new KeyValuePair<string, object?>("module", kv.Key))),
            "{message}", "Outbox rows waiting to be published");
        meter.CreateObservableGauge("orderflow.consumer.lag", ObserveLag,
            "{message}", "Messages not yet applied by a consumer group: high watermark minus committed offset, per partition");
    }

    public void Processed(string module, int count, double secondsEach)
    {
        var tag = new KeyValuePair<string, object?>("module", module);
        processed.Add(count, tag);
        for (var i = 0; i < count; i++) duration.Record(secondsEach, tag);
    }

    public void Duplicate(string module) => duplicates.Add(1, new KeyValuePair<string, object?>("module", module));

    public void Reloaded(string module) => reloads.Add(1, new KeyValuePair<string, object?>("module", module));
    public void Retry(string module) => retries.Add(1, new KeyValuePair<string, object?>("module", module));

    public void DeadLettered(string module, string topic)
    {
        failed.Add(1, new KeyValuePair<string, object?>("module", module));
        deadLetters.Add(1, new("module", module), new("topic", topic));
    }

    public void OutboxPublished(string module, int count) => outboxPublished.Add(count, new KeyValuePair<string, object?>("module", module));
    public void SetOutboxBacklog(string module, long rows) => outboxBacklog[module] = rows;

    /// <summary>Outbox rows waiting, per module, as last seen by each relay.</summary>
    public IReadOnlyDictionary<string, long> OutboxBacklog => outboxBacklog;

    /// <summary>Replaces the lag of one consumer group (all its partitions); an empty list means unknown.</summary>
    public void SetConsumerLag(string group, IReadOnlyList<PartitionLag> partitions) => consumerLag[group] = partitions;

    /// <summary>Lag per consumer group, as last measured by <see cref="ConsumerLagMonitor"/>.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<PartitionLag>> ConsumerLag => consumerLag;

    private IEnumerable<Measurement<long>> ObserveLag() =>
        consumerLag.SelectMany(group => group.Value.Select(p => new Measurement<long>(p.Lag,
            new KeyValuePair<string, object?>("group", group.Key),
            new KeyValuePair<string, object?>("topic", p.Topic),
            new KeyValuePair<string, object?>("partition", p.Partition))));
}

/// <summary>How far one consumer group is behind on one partition.</summary>
public sealed record PartitionLag(string Topic, int Partition, long Lag);
