using System.Text;
using Confluent.Kafka;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using OrderFlow.Contracts;
using OrderFlow.Host.Cli;
using OrderFlow.Messaging;
using OrderFlow.Persistence;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.Messaging;

/// <summary>
/// The consumer loop and outbox relay against the shared embedded broker and, where a Docker
/// engine runs, the same tests against a real Kafka (Testcontainers).
/// </summary>
[TestFixture(TestBroker.Embedded)]
[TestFixture(TestBroker.Docker, Category = "Docker")]
public sealed class ConsumerLoopTests(string brokerKind)
{
    private TestBroker broker = null!;
    private string directory = null!;
    private string topic = null!;
    private string module = null!;

    private string Bootstrap => broker.BootstrapServers;

    [OneTimeSetUp]
    public async Task ConnectBroker() => broker = await TestBroker.ForAsync(brokerKind);

    [SetUp]
    public void CreateTopicAndStore()
    {
        directory = Path.Combine(Path.GetTempPath(), "orderflow-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        var id = Guid.NewGuid().ToString("N")[..8];
        topic = $"probe-{id}";
        module = $"probe-{id}";
        broker.CreateTopic(topic, 4);
        broker.CreateTopic(Topics.DeadLetter(topic), 4);
        if (!broker.IsEmbedded) broker.CreateTopic(Topics.OrderEvents, 4);
    }

    [TearDown]
    public void DeleteStore()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try { Directory.Delete(directory, recursive: true); } catch (IOException) { }
    }

    private string Db => Path.Combine(directory, "probe.db");

    [Test]
    public async Task Outbox_WhenAnEventIsCommitted_ItArrivesOnceWithAllHeaders()
    {
        await using var probe = await ProbeHost.StartAsync(Bootstrap, Db, module, Topics.OrderEvents);
        OrderCreated evt = Builders.AnOrderCreated().WithItem("PROD-001", 2, 99.99m);

        await probe.AddToOutboxAsync(evt);

        await Eventually.Until(async () => (await probe.ApplicationsAsync()).Any(a => a.EventId == evt.EventId), "the probe to apply the event");
        var message = FindOnTopic(Topics.OrderEvents, evt.EventId);
        Assert.Multiple(() =>
        {
            Assert.That(Encoding.UTF8.GetString(message.Key!), Is.EqualTo(evt.OrderId));
            Assert.That(message.Headers.GetString(HeaderNames.EventType), Is.EqualTo("OrderCreated"));
            Assert.That(message.Headers.GetString(HeaderNames.EventVersion), Is.EqualTo("1"));
            Assert.That(message.Headers.GetString(HeaderNames.EventId), Is.EqualTo(evt.EventId));
            Assert.That(Tracing.IsValid(message.Headers.GetString(HeaderNames.TraceParent)), Is.True);
        });
        await Task.Delay(300);
        Assert.That((await probe.ApplicationsAsync()).Count(a => a.EventId == evt.EventId), Is.EqualTo(1));
        await Eventually.Until(async () => await OutboxCountAsync(probe) == 0, "the relay to remove the sent row from the outbox");
    }

    [Test]
    public async Task Consume_WhenEveryEventIsDeliveredTwice_AppliesEachOnce()
    {
        var events = Enumerable.Range(0, 50).Select(_ => Builders.AnOrderCreated().Build()).ToList();
        foreach (var evt in events.Concat(events)) await ProduceAsync(evt);

        await using var probe = await ProbeHost.StartAsync(Bootstrap, Db, module, topic);

        await Eventually.Until(async () => (await probe.ApplicationsAsync()).Count >= 50, "all 50 events applied");
        await Task.Delay(500);
        var applied = await probe.ApplicationsAsync();
        Assert.That(applied.Select(a => a.EventId), Is.EquivalentTo(events.Select(e => e.EventId)));
    }

    [Test]
    public async Task Consume_WhenTheConsumerCloses_EachPartitionsCommittedOffsetIsItsEnd()
    {
        // Batches mix the topic's four partitions; the offset stored for each must be one past the
        // highest message of that partition, not of another one, and not of the batch's last message.
        var events = Enumerable.Range(0, 400).Select(_ => Builders.AnOrderCreated().Build()).ToList();
        foreach (var evt in events) await ProduceAsync(evt, wait: false);
        FlushProducer();

        var probe = await ProbeHost.StartAsync(Bootstrap, Db, module, topic, new() { ["OrderFlow:Messaging:MaxBatchSize"] = "37" });
        await Eventually.Until(async () => (await probe.ApplicationsAsync()).Count >= events.Count, "all events applied");
        await probe.DisposeAsync();

        using var reader = Clients().CreateRawConsumer($"orderflow-{module}");
        var partitions = Enumerable.Range(0, 4).Select(p => new TopicPartition(topic, p)).ToList();
        var committed = reader.Committed(partitions, TimeSpan.FromSeconds(10));
        var ends = partitions.Select(p => reader.QueryWatermarkOffsets(p, TimeSpan.FromSeconds(5)).High.Value).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(ends.Sum(), Is.EqualTo(events.Count));
            Assert.That(ends, Has.All.GreaterThan(0), "the keys spread over every partition");
            Assert.That(committed.OrderBy(c => c.Partition.Value).Select(c => c.Offset.Value), Is.EqualTo(ends));
        });
    }

    [Test]
    public async Task Consume_WhenRestartedMidStream_ResumesAndAppliesNothingTwice()
    {
        var events = Enumerable.Range(0, 3000).Select(_ => Builders.AnOrderCreated().Build()).ToList();
        foreach (var evt in events) await ProduceAsync(evt, wait: false);
        FlushProducer();

        // The first consumer takes 10 ms per event: the 3,000 would take 30 s, far longer than the
        // stop, so it is stopped mid-stream however fast the machine is. (A hold released at the
        // stop let the worker apply the rest before its own stop came; CI saw that.)
        var first = await ProbeHost.StartAsync(Bootstrap, Db, module, topic, new() { ["OrderFlow:Messaging:MaxBatchSize"] = "50" },
            new FailurePlan { DelayPerEvent = TimeSpan.FromMilliseconds(10) });
        await Eventually.Until(async () => (await first.ApplicationsAsync()).Count >= 200, "the first consumer to apply some events");
        await first.DisposeAsync();
        var appliedByFirst = (await ApplicationsInAsync()).Count;
        Assert.That(appliedByFirst, Is.LessThan(events.Count), "the first consumer should be stopped mid-stream");

        await using var second = await ProbeHost.StartAsync(Bootstrap, Db, module, topic);
        await Eventually.Until(async () => (await second.ApplicationsAsync()).Count >= events.Count, "every event applied after the restart");
        await Task.Delay(500);
        var applied = await second.ApplicationsAsync();
        Assert.That(applied.Select(a => a.EventId), Is.EquivalentTo(events.Select(e => e.EventId)));
    }

    [Test]
    public async Task Consume_WhenOffsetsAreOlderThanTheCommittedWork_InboxAbsorbsTheReplay()
    {
        var events = Enumerable.Range(0, 100).Select(_ => Builders.AnOrderCreated().Build()).ToList();
        foreach (var evt in events) await ProduceAsync(evt);
        var first = await ProbeHost.StartAsync(Bootstrap, Db, module, topic);
        await Eventually.Until(async () => (await first.ApplicationsAsync()).Count >= 100, "all events applied");
        await first.DisposeAsync();

        // What a crash between the database commit and the offset commit leaves behind: offsets
        // that point before work already in the store. A new group on the same store starts from
        // the beginning of the topic, which is the same situation at its worst.
        var more = Enumerable.Range(0, 20).Select(_ => Builders.AnOrderCreated().Build()).ToList();
        foreach (var evt in more) await ProduceAsync(evt);

        await using var second = await ProbeHost.StartAsync(Bootstrap, Db, module + "-rewound", topic);
        await Eventually.Until(async () => (await second.ApplicationsAsync()).Count >= 120, "the new events applied");
        await Task.Delay(500);
        var applied = await second.ApplicationsAsync();
        Assert.That(applied.Select(a => a.EventId), Is.EquivalentTo(events.Concat(more).Select(e => e.EventId)));
    }

    [Test]
    public async Task Consume_WhenPoisonMessagesArrive_DeadLettersEachWithHeadersAndKeepsFlowing()
    {
        var valid = Builders.AnOrderCreated().Build();
        var json = EventJson.Serialize(Builders.AnOrderCreated("ORD-KEY").Build());
        await ProduceRawAsync("ORD-A", Encoding.UTF8.GetBytes("{\"event_type\":\"OrderCreated\", nope"), ("event_type", "OrderCreated"));
        await ProduceRawAsync("ORD-A", Encoding.UTF8.GetBytes("{\"event_type\":\"Mystery\"}"), ("event_type", "Mystery"));
        await ProduceRawAsync("ORD-A", json, ("event_type", "OrderCreated"), ("event_version", "99"));
        await ProduceRawAsync("ORD-A", new byte[5000], ("event_type", "OrderCreated"));
        await ProduceRawAsync("ORD-OTHER", json, ("event_type", "OrderCreated"));
        await ProduceRawAsync("ORD-A", [], ("event_type", "OrderCreated"));
        var anonymous = Builders.AnOrderCreated("ORD-ANON").Build();
        var withoutId = System.Text.RegularExpressions.Regex.Replace(Encoding.UTF8.GetString(EventJson.Serialize(anonymous)), "\"event_id\":\"[0-9a-f]+\",", "");
        await ProduceRawAsync("ORD-ANON", Encoding.UTF8.GetBytes(withoutId), ("event_type", "OrderCreated"));
        await ProduceAsync(valid);

        await using var probe = await ProbeHost.StartAsync(Bootstrap, Db, module, topic, new() { ["OrderFlow:Messaging:MaxMessageBytes"] = "4096" });

        await Eventually.Until(async () => (await probe.ApplicationsAsync()).Any(a => a.EventId == valid.EventId), "the valid event after the poison to be applied");
        var letters = await Eventually.Value(() => Task.FromResult(ReadDeadLetters()), l => l.Count >= 7, "seven dead letters");
        var errors = letters.Select(l => l.Error!).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(letters, Has.Count.EqualTo(7));
            Assert.That(letters.Select(l => l.SourceTopic), Is.All.EqualTo(topic));
            Assert.That(letters.Select(l => l.SourcePartition), Is.All.Not.Null);
            Assert.That(letters.Select(l => l.SourceOffset), Is.All.Not.Null);
            Assert.That(letters.Select(l => l.Attempts), Is.All.EqualTo("1"));
            Assert.That(errors, Has.Some.StartsWith("malformed OrderCreated payload"));
            Assert.That(errors, Has.Some.EqualTo("unknown event_type 'Mystery'"));
            Assert.That(errors, Has.Some.StartsWith("unsupported event_version 99"));
            Assert.That(errors, Has.Some.StartsWith("oversize message: 5000 bytes"));
            Assert.That(errors, Has.Some.StartsWith("message key 'ORD-OTHER' does not match order_id 'ORD-KEY'"));
            Assert.That(errors, Has.Some.EqualTo("empty payload"));
            Assert.That(errors, Has.Some.EqualTo("event_id is missing or longer than 64 characters"));
        });
    }

    [Test]
    public async Task Consume_WhenHandlerFailsThreeTimesThenSucceeds_AppliesOnceAfterFourAttempts()
    {
        var flaky = Builders.AnOrderCreated().Build();
        var others = Enumerable.Range(0, 10).Select(_ => Builders.AnOrderCreated().Build()).ToList();
        var plan = new FailurePlan();
        plan.FailuresLeft[flaky.OrderId] = 3;
        await ProduceAsync(flaky);
        foreach (var evt in others) await ProduceAsync(evt);
        long retries = 0;
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Name == "orderflow.messages.retries") l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            foreach (var tag in tags) if (tag.Key == "module" && (string?)tag.Value == module) Interlocked.Add(ref retries, value);
        });
        listener.Start();

        await using var probe = await ProbeHost.StartAsync(Bootstrap, Db, module, topic, plan: plan);

        await Eventually.Until(async () => (await probe.ApplicationsAsync()).Count >= 11, "all 11 events applied");
        var applied = await probe.ApplicationsAsync();
        Assert.That(applied.Count(a => a.OrderId == flaky.OrderId), Is.EqualTo(1));
        Assert.That(plan.Attempts[flaky.OrderId], Is.EqualTo(4), "three failed attempts and one success (the batch attempt counts as the first)");
        Assert.That(Interlocked.Read(ref retries), Is.GreaterThanOrEqualTo(2), "retries are counted in orderflow.messages.retries");
        Assert.That(ReadDeadLetters(), Is.Empty);
    }

    [Test]
    public async Task Consume_WhenRetriesAreExhausted_DeadLettersWithTheAttemptCountAndKeepsFlowing()
    {
        var hopeless = Builders.AnOrderCreated().Build();
        var refused = Builders.AnOrderCreated().Build();
        var after = Builders.AnOrderCreated().Build();
        var plan = new FailurePlan();
        plan.FailuresLeft[hopeless.OrderId] = 100;
        plan.Permanent.Add(refused.OrderId);
        await ProduceAsync(hopeless);
        await ProduceAsync(refused);
        await ProduceAsync(after);

        await using var probe = await ProbeHost.StartAsync(Bootstrap, Db, module, topic, new() { ["OrderFlow:Messaging:MaxAttempts"] = "3" }, plan);

        var letters = await Eventually.Value(() => Task.FromResult(ReadDeadLetters()), l => l.Count >= 2, "two dead letters");
        await Eventually.Until(async () => (await probe.ApplicationsAsync()).Any(a => a.OrderId == after.OrderId), "the next event applied");
        var byId = letters.ToDictionary(l => l.EventId!);
        Assert.Multiple(() =>
        {
            Assert.That(byId[hopeless.EventId].Attempts, Is.EqualTo("3"));
            Assert.That(byId[hopeless.EventId].Error, Does.Contain("transient failure injected"));
            Assert.That(byId[refused.EventId].Attempts, Is.EqualTo("1"), "a permanent failure is not retried");
        });
    }

    private List<DeadLetter> ReadDeadLetters() =>
        DlqCommand.Read(Clients(), [Topics.DeadLetter(topic)], CancellationToken.None).ToList();

    private KafkaClientFactory Clients() =>
        new(Options.Create(new KafkaOptions { BootstrapServers = Bootstrap, UsingEmbeddedBroker = broker.IsEmbedded }));

    private async Task<List<Application>> ApplicationsInAsync()
    {
        await using var probe = await ProbeHost.StartAsync(Bootstrap, Db, $"{module}-reader", $"{topic}-unused");
        return await probe.ApplicationsAsync();
    }

    [Test]
    public async Task Consume_WhenAnotherTransactionChangesTheModuleAfterTheBatchWasRead_AppliesItAgainInsideTheWriteTurn()
    {
        // The batch's rows are read and its handlers run before the write turn. Here, right after
        // the read, another transaction of the module (as the saga, the API or a second process
        // would) gives the order an application. The handler applies an event only to an order
        // without one: on the rows read before, it adds a second, which must never be written.
        IServiceProvider? services = null;
        var interleaved = 0;
        await using var probe = await ProbeHost.StartAsync(Bootstrap, Db, module, topic, consumer: c => c
            .Handle<OrderCreated, ProbeOncePerOrderHandler>(1, 2)
            .Preload(async (db, orderIds, ct) =>
            {
                await db.Applications.Where(a => orderIds.Contains(a.OrderId)).LoadAsync(ct);
                if (Interlocked.Exchange(ref interleaved, 1) == 1) return;
                await using var scope = services!.CreateAsyncScope();
                var other = scope.ServiceProvider.GetRequiredService<ProbeDbContext>();
                await using var transaction = await other.Database.BeginWriteTransactionAsync(ct);
                other.Applications.AddRange(orderIds.Select(id => new Application { EventId = "another-transaction", OrderId = id }));
                await other.SaveChangesAsync(ct);
                await transaction.CommitAsync(ct);
            }));
        services = probe.Services;
        OrderCreated evt = Builders.AnOrderCreated().Build();

        await ProduceAsync(evt);

        await Eventually.Until(async () =>
        {
            await using var scope = probe.Services.CreateAsyncScope();
            return await scope.ServiceProvider.GetRequiredService<ProbeDbContext>().Inbox.AnyAsync(i => i.EventId == evt.EventId);
        }, "the event to be applied");
        var applications = (await probe.ApplicationsAsync()).Where(a => a.OrderId == evt.OrderId).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(interleaved, Is.EqualTo(1), "the other transaction ran between the read and the write turn");
            Assert.That(applications.Select(a => a.EventId), Is.EqualTo(new[] { "another-transaction" }), "the handler saw the other transaction's row");
        });
    }

    [Test]
    public async Task Consume_WhileHandlersRun_TheWriteTurnIsFreeForOtherWriters()
    {
        // Handlers run before their batch takes the write turn, so the other modules write
        // meanwhile; a handler that waited for the turn while its own batch held it would never get it.
        await using var probe = await ProbeHost.StartAsync(Bootstrap, Db, module, topic, consumer: c => c.Handle<OrderCreated, ProbeTakesTheWriteTurnHandler>(1, 2));
        var events = Enumerable.Range(0, 20).Select(_ => (OrderCreated)Builders.AnOrderCreated().Build()).ToList();

        foreach (var evt in events) await ProduceAsync(evt, wait: false);
        Producer.Flush(TimeSpan.FromSeconds(10));

        await Eventually.Until(async () => (await probe.ApplicationsAsync()).Count >= events.Count, "every event to be applied");
        var applications = await probe.ApplicationsAsync();
        Assert.Multiple(() =>
        {
            Assert.That(applications.Select(a => a.OrderId), Is.EquivalentTo(events.Select(e => e.OrderId)), "each event applied once");
            Assert.That(events.Select(e => probe.Plan.Attempts.GetValueOrDefault(e.OrderId)), Is.All.EqualTo(1), "each handler got the turn at its first run");
        });
    }

    [Test]
    public async Task Consume_WhenABatchHasTwoEventsOfOneOrder_TheSecondHandlersQuerySeesWhatTheFirstWrote()
    {
        // No preload: the handler looks the order's application up with a query, which sees only
        // saved rows. The handler of a first order is slow, so both copies of the second order
        // queue up behind it and are taken as one batch (one worker applies every partition).
        await using var probe = await ProbeHost.StartAsync(Bootstrap, Db, module, topic, consumer: c => c.Handle<OrderCreated, ProbeOncePerOrderHandler>(1, 2));
        probe.Plan.DelayPerEvent = TimeSpan.FromMilliseconds(500);
        var order = "ORD-" + Guid.NewGuid().ToString("N")[..12].ToUpperInvariant();
        var slow = Builders.AnOrderCreated().Build();
        var first = Builders.AnOrderCreated(order).Build();
        var second = Builders.AnOrderCreated(order).Build();

        await ProduceAsync(slow);
        foreach (var evt in new[] { first, second }) await ProduceAsync(evt, wait: false);
        Producer.Flush(TimeSpan.FromSeconds(10));

        await Eventually.Until(async () =>
        {
            await using var scope = probe.Services.CreateAsyncScope();
            return await scope.ServiceProvider.GetRequiredService<ProbeDbContext>().Inbox.CountAsync() == 3;
        }, "all three events to be applied");
        var applications = await probe.ApplicationsAsync();
        Assert.That(applications.Where(a => a.OrderId == order).Select(a => a.EventId), Is.EqualTo(new[] { first.EventId }), "the second copy saw the first one's row");
    }

    private static async Task<int> OutboxCountAsync(ProbeHost probe)
    {
        await using var scope = probe.Services.CreateAsyncScope();
        return scope.ServiceProvider.GetRequiredService<ProbeDbContext>().OutboxMessages.Count();
    }

    private IProducer<byte[]?, byte[]?>? producer;

    private IProducer<byte[]?, byte[]?> Producer =>
        producer ??= new ProducerBuilder<byte[]?, byte[]?>(new ProducerConfig { BootstrapServers = Bootstrap, LingerMs = 1 }).Build();

    private Task ProduceAsync(OrderCreated evt, bool wait = true) =>
        ProduceRawAsync(evt.OrderId, EventJson.Serialize(evt), wait, ("event_type", "OrderCreated"), ("event_version", "1"), ("event_id", evt.EventId));

    private Task ProduceRawAsync(string key, byte[] value, params (string Name, string Value)[] headers) =>
        ProduceRawAsync(key, value, true, headers);

    private async Task ProduceRawAsync(string key, byte[] value, bool wait, params (string Name, string Value)[] headers)
    {
        var message = new Message<byte[]?, byte[]?> { Key = Encoding.UTF8.GetBytes(key), Value = value, Headers = [] };
        foreach (var (name, v) in headers) message.Headers.Add(name, Encoding.UTF8.GetBytes(v));
        if (wait) await Producer.ProduceAsync(topic, message);
        else Producer.Produce(topic, message);
    }

    private void FlushProducer() => Producer.Flush(TimeSpan.FromSeconds(30));

    private Message<byte[]?, byte[]?> FindOnTopic(string name, string eventId)
    {
        var letters = DlqCommand.Read(Clients(), [name], CancellationToken.None);
        return letters.Single(l => l.EventId == eventId).Message;
    }

    [OneTimeTearDown]
    public void DisposeProducer()
    {
        producer?.Dispose();
        producer = null;
    }
}
