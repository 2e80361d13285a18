using System.Diagnostics;
using Confluent.Kafka;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OrderFlow.Contracts;
using OrderFlow.Host.Cli;
using OrderFlow.Messaging;
using OrderFlow.Tests.Messaging;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.Security;

/// <summary>
/// SPEC §9 under attack: a seeded stream of malformed, truncated, oversized, wrong-typed and
/// boundary-valued messages with hostile headers and keys, valid orders mixed in, fed to the
/// real consumer loop (probe module, shared embedded broker). Repeat a failure with
/// <c>dotnet test -- TestRunParameters.Parameter(name=\"FuzzSeed\", value=\"N\")</c>.
/// </summary>
[TestFixture]
public sealed class HostileMessageFuzzTests
{
    private const int DefaultSeed = 20261125;
    private const int MessageCount = 3_000;
    private const double ValidShare = 0.25;
    private const int MaxMessageBytes = 16 * 1024;

    private string directory = null!;
    private string topic = null!;
    private string module = null!;

    private static string Bootstrap => SharedBroker.Instance.BootstrapServers;

    [SetUp]
    public void CreateTopicAndStore()
    {
        directory = Path.Combine(Path.GetTempPath(), "orderflow-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        var id = Guid.NewGuid().ToString("N")[..8];
        topic = $"fuzz-{id}";
        module = $"fuzz-{id}";
        SharedBroker.Instance.CreateTopic(topic, 4);
        SharedBroker.Instance.CreateTopic(Topics.DeadLetter(topic), 4);
    }

    [TearDown]
    public void DeleteStore()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try { Directory.Delete(directory, recursive: true); } catch (IOException) { }
    }

    [Test]
    public async Task Consumer_WhenFedThousandsOfSeededHostileMessages_NeverStopsDeadLettersEveryBadOneAndAppliesEveryValidOne()
    {
        var seed = TestContext.Parameters.Get("FuzzSeed", DefaultSeed);
        TestContext.Out.WriteLine($"fuzz seed {seed}");
        var generator = new HostileMessageGenerator(seed, MaxMessageBytes);
        await using var probe = await ProbeHost.StartAsync(Bootstrap, Path.Combine(directory, "fuzz.db"), module, topic,
            new() { ["OrderFlow:Messaging:MaxMessageBytes"] = MaxMessageBytes.ToString(), ["OrderFlow:Messaging:MaxBatchSize"] = "100" });
        var logs = new CapturedLogs();
        probe.Services.GetRequiredService<ILoggerFactory>().AddProvider(logs);

        // The consumer runs while the stream arrives: valid orders are sent in between the bad ones,
        // and one valid order comes last, so the loop must still be alive after everything else.
        var clock = Stopwatch.StartNew();
        var messages = Enumerable.Range(0, MessageCount).Select(_ => generator.Next(ValidShare)).Append(generator.Valid()).ToList();
        var sent = await ProduceAsync(messages);
        var expected = sent.Count(s => s.Message.Expect != Expect.Ignored);

        using var watcher = Clients().CreateRawConsumer($"{module}-watcher");
        await Eventually.Until(async () => await InboxRowsAsync(probe) + DeadLetterCount(watcher) >= expected,
            $"all {expected} messages applied or dead-lettered", TimeSpan.FromSeconds(90));

        var applied = (await InboxAsync(probe)).ToHashSet();
        var letters = DlqCommand.Read(Clients(), [Topics.DeadLetter(topic)], CancellationToken.None);
        var dead = letters.ToDictionary(l => (int.Parse(l.SourcePartition!), long.Parse(l.SourceOffset!)), l => l.Error);
        var wrong = new List<string>();
        foreach (var (message, at) in sent)
        {
            var (isApplied, isDead) = (applied.Contains(at), dead.ContainsKey(at));
            var ok = message.Expect switch
            {
                Expect.Applied => isApplied && !isDead,
                Expect.DeadLettered => isDead && !isApplied,
                Expect.AppliedOrDeadLettered => isApplied ^ isDead,
                _ => !isApplied && !isDead,
            };
            if (!ok) wrong.Add($"{message.Kind} @{at}: expected {message.Expect}, applied={isApplied}, dead-lettered={isDead} {dead.GetValueOrDefault(at)}");
        }
        TestContext.Out.WriteLine($"{sent.Count} messages, {applied.Count} applied, {dead.Count} dead-lettered in {clock.Elapsed.TotalSeconds:F1} s");
        foreach (var kind in sent.GroupBy(s => s.Message.Kind.Split(':')[0]).OrderBy(g => g.Key)) TestContext.Out.WriteLine($"  {kind.Count(),5} {kind.Key}");

        Assert.Multiple(() =>
        {
            Assert.That(wrong, Is.Empty, string.Join(Environment.NewLine, wrong.Take(30)));
            Assert.That(logs.Entries.Where(e => e.Level >= LogLevel.Error).Select(e => e.Text), Is.Empty, "the consumer loop never failed or restarted");
            Assert.That(letters, Has.Count.EqualTo(dead.Count), "one dead letter per bad message, no copies");
            Assert.That(letters.Select(l => l.SourceTopic), Is.All.EqualTo(topic));
            Assert.That(letters.Select(l => l.Attempts), Is.All.EqualTo("1"), "parse failures are not retried");
            Assert.That(letters.Select(l => l.Error), Is.All.Not.Empty);
            Assert.That(sent.Count(s => s.Message.Expect == Expect.Applied), Is.GreaterThan(MessageCount / 5), "the stream holds valid orders");
            Assert.That(sent.Count(s => s.Message.Expect == Expect.DeadLettered), Is.GreaterThan(MessageCount / 2), "the stream is mostly hostile");
        });
    }

    private async Task<List<(HostileMessage Message, (int Partition, long Offset) At)>> ProduceAsync(List<HostileMessage> messages)
    {
        using var producer = new ProducerBuilder<byte[]?, byte[]?>(new ProducerConfig { BootstrapServers = Bootstrap, LingerMs = 5, MessageMaxBytes = 1_000_000 }).Build();
        var deliveries = messages.Select(m =>
        {
            var headers = new Headers();
            foreach (var (name, value) in m.Headers) headers.Add(name, value);
            return producer.ProduceAsync(topic, new Message<byte[]?, byte[]?> { Key = m.Key, Value = m.Value, Headers = headers });
        }).ToList();
        var results = await Task.WhenAll(deliveries);
        return messages.Zip(results, (m, r) => (m, (r.Partition.Value, r.Offset.Value))).ToList();
    }

    private async Task<int> InboxRowsAsync(ProbeHost probe)
    {
        await using var scope = probe.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<ProbeDbContext>().Inbox.CountAsync(i => i.Topic == topic);
    }

    private async Task<List<(int, long)>> InboxAsync(ProbeHost probe)
    {
        await using var scope = probe.Services.CreateAsyncScope();
        var rows = await scope.ServiceProvider.GetRequiredService<ProbeDbContext>().Inbox.AsNoTracking()
            .Where(i => i.Topic == topic).Select(i => new { i.Partition, i.Offset }).ToListAsync();
        return rows.Select(r => (r.Partition, r.Offset)).ToList();
    }

    private long DeadLetterCount(IConsumer<byte[]?, byte[]?> watcher) =>
        Enumerable.Range(0, 4).Sum(p => watcher.QueryWatermarkOffsets(new TopicPartition(Topics.DeadLetter(topic), p), TimeSpan.FromSeconds(5)).High.Value);

    private static KafkaClientFactory Clients() =>
        new(Options.Create(new KafkaOptions { BootstrapServers = Bootstrap, UsingEmbeddedBroker = true }));
}
