using Confluent.Kafka;
using Confluent.Kafka.Admin;

namespace OrderFlow.Messaging;

/// <summary>Broker look-ups shared by the lag monitor and the embedded broker's retention.</summary>
internal static class AdminQueries
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

    /// <summary>The partition ids of every topic the broker's metadata lists without an error.</summary>
    public static Dictionary<string, List<int>> PartitionsByTopic(IAdminClient admin) =>
        admin.GetMetadata(Timeout).Topics.Where(t => !t.Error.IsError)
            .ToDictionary(t => t.Topic, t => t.Partitions.Select(p => p.PartitionId).Order().ToList(), StringComparer.Ordinal);

    /// <summary>What <paramref name="group"/> has committed on <paramref name="partitions"/>; a negative offset: nothing yet.</summary>
    public static async Task<Dictionary<TopicPartition, long>> CommittedAsync(IAdminClient admin, string group, List<TopicPartition> partitions)
    {
        var committed = await admin.ListConsumerGroupOffsetsAsync([new ConsumerGroupTopicPartitions(group, partitions)],
            new ListConsumerGroupOffsetsOptions { RequestTimeout = Timeout });
        return committed.SelectMany(r => r.Partitions).Where(p => !p.Error.IsError).ToDictionary(p => p.TopicPartition, p => p.Offset.Value);
    }
}
