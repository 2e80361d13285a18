using Confluent.Kafka;
using OrderFlow.Messaging;

namespace OrderFlow.Host.Broker;

/// <summary>
/// Retention for the embedded broker: drops the records every reader of a partition has committed
/// past, as a real cluster's retention drops old segments — but never one a reader still needs.
/// <para>
/// Why: librdkafka's mock keeps up to ~5 MiB or 100,000 message sets per partition in memory, and
/// finds the message set of every Fetch by walking that list from the oldest one
/// (<c>rd_kafka_mock_msgset_find</c>). Under a steady load the lists stay full: the walk took 13 %
/// of the process's CPU at 1,000 orders/s, and the logs ~250 MB of its memory (docs/benchmarks.md).
/// </para>
/// <para>
/// The readers are the consumer groups given to <see cref="ExpectReader"/>: the host's modules,
/// and it runs retention only when it runs all of them (BrokerKeeper). A partition is cut at the
/// lowest offset its readers have committed; one a reader has not committed on yet, and a topic
/// without readers (the dead-letter topics, <c>notification</c>), keep everything, up to the
/// mock's own limit. Readers cannot be discovered: <c>ListConsumerGroups</c> against librdkafka
/// 2.16's mock crashes the process (a double free in the native library), and an offset fetch
/// for "every partition of a group" returns nothing there; so an outside consumer group on the
/// event topics is not waited for (the mock's own limit never waited for it either).
/// </para>
/// </summary>
public sealed class EmbeddedBrokerRetention(EmbeddedBroker broker)
{
    private readonly Dictionary<string, HashSet<string>> expected = new(StringComparer.Ordinal);
    private readonly Dictionary<TopicPartition, long> cut = [];
    private readonly Lock gate = new();

    /// <summary>Makes <paramref name="group"/> a reader of <paramref name="topics"/>: nothing it has not committed past is dropped.</summary>
    public void ExpectReader(string group, IEnumerable<string> topics)
    {
        lock (gate)
            foreach (var topic in topics)
            {
                if (!expected.TryGetValue(topic, out var groups)) expected[topic] = groups = new HashSet<string>(StringComparer.Ordinal);
                groups.Add(group);
            }
    }

    /// <summary>
    /// Cuts every partition at what its readers have committed, every <paramref name="interval"/>
    /// from ten intervals after the start, until cancelled.
    /// </summary>
    public async Task RunAsync(KafkaClientFactory kafka, TimeSpan interval, Action<Exception>? failed, CancellationToken cancellationToken)
    {
        // The first pass after ten intervals: there is little to drop at start-up, when the CPU is
        // busiest (JIT, consumers joining), and an admin client and a pass then made
        // `generate --orders 1000` slower (docs/benchmarks.md).
        try
        {
            await Task.Delay(10 * interval, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            return;
        }
        using var admin = new AdminClientBuilder(kafka.AdminConfig()).SetLogHandler((_, _) => { }).Build();
        using var timer = new PeriodicTimer(interval);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                try
                {
                    await TrimAsync(admin);
                }
                catch (Exception ex) when (ex is KafkaException or TimeoutException or InvalidOperationException)
                {
                    failed?.Invoke(ex);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>One pass; returns the partitions that were cut further.</summary>
    public async Task<IReadOnlyList<TopicPartitionOffset>> TrimAsync(IAdminClient admin)
    {
        var partitions = AdminQueries.PartitionsByTopic(admin);

        Dictionary<string, HashSet<string>> readersOf;
        lock (gate) readersOf = expected.ToDictionary(e => e.Key, e => e.Value.ToHashSet(StringComparer.Ordinal), StringComparer.Ordinal);
        // What each reader has committed on the partitions of its topics.
        var committed = new Dictionary<string, Dictionary<TopicPartition, long>>(StringComparer.Ordinal);
        foreach (var group in readersOf.Values.SelectMany(g => g).Distinct(StringComparer.Ordinal))
        {
            var owned = readersOf.Where(r => r.Value.Contains(group) && partitions.ContainsKey(r.Key))
                .SelectMany(r => partitions[r.Key].Select(p => new TopicPartition(r.Key, p))).ToList();
            committed[group] = (await AdminQueries.CommittedAsync(admin, group, owned)).Where(o => o.Value >= 0).ToDictionary();
        }

        var trimmed = new List<TopicPartitionOffset>();
        foreach (var (topic, ids) in partitions)
        {
            if (!readersOf.TryGetValue(topic, out var readers) || readers.Count == 0) continue;
            foreach (var id in ids)
            {
                var tp = new TopicPartition(topic, id);
                long? lowest = null;
                foreach (var reader in readers)
                {
                    if (!committed.TryGetValue(reader, out var offsets) || !offsets.TryGetValue(tp, out var offset))
                    {
                        lowest = null;
                        break;
                    }
                    lowest = Math.Min(lowest ?? long.MaxValue, offset);
                }
                if (lowest is not { } before || before <= cut.GetValueOrDefault(tp)) continue;
                if (broker.DeleteRecords(topic, id, before) is var error and not ErrorCode.NoError)
                    throw new InvalidOperationException($"cutting {tp} before offset {before} failed: {error}");
                cut[tp] = before;
                trimmed.Add(new TopicPartitionOffset(tp, before));
            }
        }
        return trimmed;
    }
}
