using System.CommandLine;
using System.Text;
using Confluent.Kafka;
using OrderFlow.Contracts;
using OrderFlow.Messaging;
using Spectre.Console;

namespace OrderFlow.Host.Cli;

/// <summary>A message read back from a dead-letter topic.</summary>
public sealed record DeadLetter(
    string Topic, int Partition, long Offset, string? SourceTopic, string? SourcePartition, string? SourceOffset,
    string? EventType, string? EventId, string? Error, string? Attempts, string? FailedAt, Message<byte[]?, byte[]?> Message);

/// <summary><c>dlq list</c> and <c>dlq replay</c>: inspect dead letters and send them back to their source topic.</summary>
internal static class DlqCommand
{
    public const string ReplayGroup = "orderflow-dlq-replay";
    public const string ReplayedFromHeader = "dlq_replayed_from";

    public static Command Create()
    {
        var topic = new Option<string?>("--topic") { Description = "Only this dead-letter topic (e.g. order-events.dlq) or its source topic (order-events)." };
        var list = new Command("list", "List the dead letters of every (or one) dead-letter topic.") { topic };
        list.TreatUnmatchedTokensAsErrors = false;
        list.SetAction(async (result, cancellationToken) =>
        {
            var clients = Clients(CommandLine.ConfigArgs(result));
            if (clients is null) return 2;
            var letters = await Task.Run(() => Read(clients, DlqTopics(clients.Options.Layout, result.GetValue(topic)), cancellationToken), cancellationToken);
            var table = new Table().AddColumns("Dead letter", "Source", "Event", "Attempts", "Error");
            foreach (var l in letters)
                table.AddRow($"{l.Topic}[{l.Partition}]@{l.Offset}", $"{l.SourceTopic}[{l.SourcePartition}]@{l.SourceOffset}",
                    Markup.Escape($"{l.EventType ?? "?"} {l.EventId ?? ""}"), l.Attempts ?? "?", Markup.Escape(l.Error ?? ""));
            AnsiConsole.Write(table);
            Console.WriteLine($"{letters.Count} dead letter(s)");
            return 0;
        });

        var replayTopic = new Option<string?>("--topic") { Description = "Only this dead-letter topic or its source topic." };
        var id = new Option<string?>("--id") { Description = "Only the dead letter with this event_id (replayed even if replayed before)." };
        var all = new Option<bool>("--all") { Description = "Replay every dead letter again, not only those not replayed yet." };
        var replay = new Command("replay", "Send dead letters back to their source topic; consumers apply each at most once (inbox).") { replayTopic, id, all };
        replay.TreatUnmatchedTokensAsErrors = false;
        replay.SetAction(async (result, cancellationToken) =>
        {
            var clients = Clients(CommandLine.ConfigArgs(result));
            if (clients is null) return 2;
            var count = await ReplayAsync(clients, DlqTopics(clients.Options.Layout, result.GetValue(replayTopic)), result.GetValue(id), result.GetValue(all), cancellationToken);
            Console.WriteLine($"{count} dead letter(s) replayed");
            return 0;
        });

        return new Command("dlq", "Inspect and re-drive dead letters.") { list, replay };
    }

    private static KafkaClientFactory? Clients(string[] configArgs)
    {
        var configuration = OrderFlowApp.LoadConfiguration(configArgs);
        var kafka = KafkaOptions.Read(configuration);
        if (kafka.IsEmbedded)
        {
            kafka.BootstrapServers = $"127.0.0.1:{kafka.EmbeddedPort}";
            kafka.UsingEmbeddedBroker = true;
            if (!Broker.BrokerConnector.AnswersAsKafka(kafka.BootstrapServers, kafka))
            {
                Console.Error.WriteLine($"No embedded broker answers at {kafka.BootstrapServers}. Dead letters live in the memory of the process that runs the broker: start the host or `broker` first.");
                return null;
            }
        }
        return new KafkaClientFactory(Microsoft.Extensions.Options.Options.Create(kafka));
    }

    internal static IReadOnlyList<string> DlqTopics(TopicLayout layout, string? topic) =>
        topic is null ? layout.EventTopics.Select(Topics.DeadLetter).ToList()
        : [topic.EndsWith(Topics.DeadLetterSuffix, StringComparison.Ordinal) ? topic : Topics.DeadLetter(topic)];

    /// <summary>Every dead letter from the start of the topics up to their current end.</summary>
    public static IReadOnlyList<DeadLetter> Read(KafkaClientFactory clients, IReadOnlyList<string> topics, CancellationToken cancellationToken, string? groupId = null)
    {
        using var consumer = clients.CreateRawConsumer(groupId ?? $"orderflow-dlq-reader-{Guid.NewGuid():N}");
        var letters = new List<DeadLetter>();
        using var admin = new AdminClientBuilder(clients.AdminConfig()).Build();
        var metadata = admin.GetMetadata(TimeSpan.FromSeconds(10));
        var partitions = metadata.Topics.Where(t => topics.Contains(t.Topic) && !t.Error.IsError)
            .SelectMany(t => t.Partitions.Select(p => new TopicPartition(t.Topic, p.PartitionId))).ToList();
        var ends = new Dictionary<TopicPartition, long>();
        var starts = new List<TopicPartitionOffset>();
        var committed = groupId is null ? [] : consumer.Committed(partitions, TimeSpan.FromSeconds(10));
        foreach (var partition in partitions)
        {
            var marks = consumer.QueryWatermarkOffsets(partition, TimeSpan.FromSeconds(10));
            var from = committed.FirstOrDefault(c => c.TopicPartition == partition) is { Offset.Value: >= 0 } c ? c.Offset.Value : marks.Low.Value;
            if (marks.High.Value > from)
            {
                ends[partition] = marks.High.Value;
                starts.Add(new TopicPartitionOffset(partition, from));
            }
        }
        if (starts.Count == 0) return letters;
        consumer.Assign(starts);
        while (ends.Count > 0 && !cancellationToken.IsCancellationRequested)
        {
            var r = consumer.Consume(TimeSpan.FromSeconds(5));
            if (r is null) break;
            var headers = r.Message.Headers;
            letters.Add(new DeadLetter(r.Topic, r.Partition.Value, r.Offset.Value,
                headers.GetString(HeaderNames.DlqSourceTopic), headers.GetString(HeaderNames.DlqSourcePartition), headers.GetString(HeaderNames.DlqSourceOffset),
                headers.GetString(HeaderNames.EventType), headers.GetString(HeaderNames.EventId) ?? PayloadEventId(r.Message.Value), headers.GetString(HeaderNames.DlqError),
                headers.GetString(HeaderNames.DlqAttempts), headers.GetString(HeaderNames.DlqFailedAt), r.Message));
            if (r.Offset.Value + 1 >= ends.GetValueOrDefault(r.TopicPartition, long.MaxValue)) ends.Remove(r.TopicPartition);
        }
        return letters.OrderBy(l => l.Topic).ThenBy(l => l.Partition).ThenBy(l => l.Offset).ToList();
    }

    private static string? PayloadEventId(byte[]? value) => value is null ? null : IncomingMessage.PeekString(value, "event_id");

    /// <summary>
    /// Produces each selected dead letter to its source topic with its original key, value and
    /// headers (dead-letter headers dropped, <c>dlq_replayed_from</c> added). Without --id and
    /// --all, only letters not replayed before are sent; the position is kept by a consumer group.
    /// </summary>
    public static async Task<int> ReplayAsync(KafkaClientFactory clients, IReadOnlyList<string> topics, string? eventId, bool all, CancellationToken cancellationToken)
    {
        var useGroup = eventId is null && !all;
        var letters = Read(clients, topics, cancellationToken, useGroup ? ReplayGroup : null)
            .Where(l => eventId is null || l.EventId == eventId).ToList();
        using var producer = new ProducerBuilder<byte[]?, byte[]?>(clients.ProducerConfig()).Build();
        foreach (var letter in letters)
        {
            if (letter.SourceTopic is null) continue;
            var headers = new Headers();
            foreach (var header in letter.Message.Headers ?? [])
                if (!header.Key.StartsWith("dlq_", StringComparison.Ordinal)) headers.Add(header.Key, header.GetValueBytes());
            headers.Add(ReplayedFromHeader, Encoding.UTF8.GetBytes($"{letter.Topic}:{letter.Partition}:{letter.Offset}"));
            await producer.ProduceAsync(letter.SourceTopic, new Message<byte[]?, byte[]?> { Key = letter.Message.Key, Value = letter.Message.Value, Headers = headers }, cancellationToken);
        }
        if (useGroup && letters.Count > 0)
        {
            using var committer = clients.CreateRawConsumer(ReplayGroup);
            committer.Commit(letters.GroupBy(l => new TopicPartition(l.Topic, l.Partition))
                .Select(g => new TopicPartitionOffset(g.Key, g.Max(l => l.Offset) + 1)));
        }
        return letters.Count;
    }
}
