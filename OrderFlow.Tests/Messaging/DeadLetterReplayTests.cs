using Microsoft.Extensions.Options;
using OrderFlow.Contracts;
using OrderFlow.Host.Cli;
using OrderFlow.Messaging;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.Messaging;

/// <summary>`dlq replay`: a dead letter sent back to its topic is applied once, however often it is replayed.</summary>
[TestFixture]
public sealed class DeadLetterReplayTests
{
    [Test]
    public async Task Replay_WhenTheCauseIsFixed_AppliesTheMessageOnceEvenWhenReplayedAgain()
    {
        var id = Guid.NewGuid().ToString("N")[..8];
        var topic = $"replay-{id}";
        SharedBroker.Instance.CreateTopic(topic, 2);
        SharedBroker.Instance.CreateTopic(Topics.DeadLetter(topic), 2);
        var directory = Path.Combine(Path.GetTempPath(), "orderflow-tests", id);
        Directory.CreateDirectory(directory);
        var clients = new KafkaClientFactory(Options.Create(new KafkaOptions { BootstrapServers = SharedBroker.Instance.BootstrapServers, UsingEmbeddedBroker = true }));
        var plan = new FailurePlan();
        var refused = Builders.AnOrderCreated().Build();
        plan.Permanent.Add(refused.OrderId);
        await using var probe = await ProbeHost.StartAsync(SharedBroker.Instance.BootstrapServers, Path.Combine(directory, "probe.db"), $"replay-{id}", topic, plan: plan);
        using (var producer = new Confluent.Kafka.ProducerBuilder<byte[]?, byte[]?>(clients.ProducerConfig()).Build())
        {
            await producer.ProduceAsync(topic, new Confluent.Kafka.Message<byte[]?, byte[]?>
            {
                Key = System.Text.Encoding.UTF8.GetBytes(refused.OrderId),
                Value = EventJson.Serialize(refused),
                Headers = new Confluent.Kafka.Headers { { HeaderNames.EventType, "OrderCreated"u8.ToArray() }, { HeaderNames.EventId, System.Text.Encoding.UTF8.GetBytes(refused.EventId) } },
            });
        }
        await Eventually.Until(() => DlqCommand.Read(clients, [Topics.DeadLetter(topic)], CancellationToken.None).Any(l => l.EventId == refused.EventId),
            "the refused event in the dead-letter topic");

        plan.Permanent.Remove(refused.OrderId);
        var replayed = await DlqCommand.ReplayAsync(clients, [Topics.DeadLetter(topic)], null, all: false, CancellationToken.None);
        await Eventually.Until(async () => (await probe.ApplicationsAsync()).Any(a => a.EventId == refused.EventId), "the replayed event applied");
        var again = await DlqCommand.ReplayAsync(clients, [Topics.DeadLetter(topic)], refused.EventId, all: false, CancellationToken.None);
        var nothingNew = await DlqCommand.ReplayAsync(clients, [Topics.DeadLetter(topic)], null, all: false, CancellationToken.None);
        // Give a wrongly re-applied copy the time to show up before counting.
        await Task.Delay(500);

        Assert.That(replayed, Is.EqualTo(1));
        Assert.That(again, Is.EqualTo(1), "--id replays that letter again");
        Assert.That(nothingNew, Is.Zero, "a plain replay sends only letters not replayed before");
        Assert.That((await probe.ApplicationsAsync()).Count(a => a.EventId == refused.EventId), Is.EqualTo(1));
    }
}
