using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace OrderFlow.Messaging;

/// <summary>
/// Measures the lag of every consumer group this process runs, per partition, as Kafka's own tools
/// do: the partition's high watermark minus the group's committed offset (a partition the group
/// never committed counts from the low watermark, where it would start). It asks the broker, not
/// the consumer loop, so a stopped, crashed or stuck consumer shows its lag growing instead of
/// going silent. Committed offsets trail the applied ones by at most the auto-commit interval.
/// </summary>
internal sealed partial class ConsumerLagMonitor(
    IEnumerable<EventConsumerRegistration> registrations, KafkaClientFactory kafka, IOptions<MessagingOptions> options,
    MessagingMetrics metrics, TimeProvider clock, ILogger<ConsumerLagMonitor> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var groups = registrations.DistinctBy(r => r.GroupId).ToList();
        if (groups.Count == 0) return;
        // Thread-pool thread: the admin client's metadata call blocks.
        await Task.Yield();
        using var admin = new AdminClientBuilder(kafka.AdminConfig()).SetLogHandler((_, _) => { }).Build();
        var interval = TimeSpan.FromMilliseconds(options.Value.LagIntervalMs);
        var failing = false;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await MeasureAsync(admin, groups);
                if (failing) LogRecovered();
                failing = false;
            }
            catch (Exception ex) when (ex is KafkaException or TimeoutException or InvalidOperationException)
            {
                // Unknown is not zero: the lag series disappear until the broker answers again.
                foreach (var group in groups) metrics.SetConsumerLag(group.GroupId, []);
                if (!failing) LogFailed(ex);
                failing = true;
            }
            try
            {
                await Task.Delay(interval, clock, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    internal async Task MeasureAsync(IAdminClient admin, IReadOnlyList<EventConsumerRegistration> groups)
    {
        foreach (var (group, lag) in await LagOfAsync(admin, groups)) metrics.SetConsumerLag(group, lag);
    }

    /// <summary>Lag per partition of each group: high watermark minus committed offset (the low watermark when never committed).</summary>
    internal static async Task<Dictionary<string, List<PartitionLag>>> LagOfAsync(IAdminClient admin, IReadOnlyList<EventConsumerRegistration> groups)
    {
        var result = new Dictionary<string, List<PartitionLag>>();
        var partitions = AdminQueries.PartitionsByTopic(admin);
        var consumed = groups.SelectMany(g => g.Topics).Distinct().Where(partitions.ContainsKey)
            .SelectMany(t => partitions[t].Select(p => new TopicPartition(t, p))).ToList();
        if (consumed.Count == 0) return result;

        var high = await OffsetsAsync(admin, consumed, OffsetSpec.Latest());
        Dictionary<TopicPartition, long>? low = null;
        foreach (var group in groups)
        {
            var owned = group.Topics.Where(partitions.ContainsKey).SelectMany(t => partitions[t].Select(p => new TopicPartition(t, p))).ToList();
            var offsets = await AdminQueries.CommittedAsync(admin, group.GroupId, owned);
            if (offsets.Values.Any(o => o < 0)) low ??= await OffsetsAsync(admin, consumed, OffsetSpec.Earliest());

            var lag = new List<PartitionLag>(owned.Count);
            foreach (var tp in owned)
            {
                if (!high.TryGetValue(tp, out var end) || !offsets.TryGetValue(tp, out var position)) continue;
                if (position < 0) position = low!.GetValueOrDefault(tp);
                lag.Add(new PartitionLag(tp.Topic, tp.Partition.Value, Math.Max(0, end - position)));
            }
            result[group.GroupId] = lag;
        }
        return result;
    }

    private static async Task<Dictionary<TopicPartition, long>> OffsetsAsync(IAdminClient admin, IEnumerable<TopicPartition> partitions, OffsetSpec spec)
    {
        var result = await admin.ListOffsetsAsync(partitions.Select(tp => new TopicPartitionOffsetSpec { TopicPartition = tp, OffsetSpec = spec }),
            new ListOffsetsOptions { RequestTimeout = AdminQueries.Timeout });
        return result.ResultInfos.Select(r => r.TopicPartitionOffsetError).Where(r => !r.Error.IsError)
            .ToDictionary(r => r.TopicPartition, r => r.Offset.Value);
    }

    [LoggerMessage(LogLevel.Warning, "Consumer lag cannot be measured; retrying")]
    private partial void LogFailed(Exception ex);

    [LoggerMessage(LogLevel.Information, "Consumer lag is measured again")]
    private partial void LogRecovered();
}
