using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Confluent.Kafka;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;
using OrderFlow.Host.Broker;
using OrderFlow.Messaging;
using OrderFlow.Persistence;

namespace OrderFlow.Host.Cli;

/// <summary>
/// <c>bench</c>'s part (f), "floor": a stripped-down pipeline of the kind issue 5 quotes its figures
/// for (~8,000 orders/s on a machine like this one), built here so the gap between it and OrderFlow
/// is measured on the same machine in the same run rather than quoted. Four consumer stages in a chain (inventory → payment → orders →
/// notification), each reading one topic in batches: one SQLite transaction per batch with the
/// inbox check, the effect and the outbox row; the outbox is sent after the commit and deleted in
/// the stage's next transaction once delivered; offsets are stored after the commit. Same embedded
/// broker, same client settings (<see cref="KafkaClientFactory"/>), same SQLite pragmas and page
/// size as the flow, and the write turn's holder raised as the flow's is (<see cref="WriterPriority"/>).
/// Event ids are time-ordered (version 7), as the flow's are: with random ones each batch's inbox
/// inserts landed on leaf pages all over the inbox's B-tree, which the stage read back and the
/// commit wrote to the WAL again, and the floor ran 30–45 % fewer orders a second
/// (docs/benchmarks.md, twentieth session). That chain is the issue's; <see cref="FloorShape.FlowEvents"/>
/// gives the same four stages the flow's own events in SPEC §3's layout instead (thirtieth
/// session), so the flow can be set against the architecture carrying what it carries.
/// </summary>
/// <remarks>
/// What it leaves out, on purpose, is what OrderFlow adds on top of that architecture: the order's
/// state machine and history, order status events that other groups read and skip (except in
/// <see cref="FloorShape.FlowEvents"/>), tracing,
/// metrics, dead-lettering, EF Core, the poll loop's hand-off to an async worker through a bounded
/// queue (each stage here consumes and writes on one thread), and the module boundaries (one
/// inbox and outbox per module). Every order takes the happy path: the stock is too large to run
/// out and the payment always succeeds. It is not a second implementation of the flow and nothing else
/// uses it; docs/benchmarks.md compares the two.
/// </remarks>
internal sealed class FloorPipeline : IAsyncDisposable
{
    private const string Created = "floor-order-created";
    private const string Reserved = "floor-inventory-reserved";
    private const string Paid = "floor-payment-completed";
    private const string Notify = "floor-notification";
    private const int MaxBatch = 500;
    private const int InFlight = 20_000;
    private const int Products = 100;

    private readonly string connectionString;
    private readonly KafkaClientFactory clients;
    private readonly IProducer<byte[], byte[]> producer;
    private readonly SemaphoreSlim gate = new(1, 1);
    private readonly CancellationTokenSource stop = new();
    private readonly TaskCompletionSource finished = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly int orders;
    private readonly int pageSize;
    private readonly FloorShape shape;
    private long gateHeldTicks;
    private long transactions;
    private long notified;
    private long applied;

    private FloorPipeline(string database, KafkaClientFactory clients, int orders, int pageSize, FloorShape shape)
    {
        this.shape = shape;
        this.pageSize = pageSize;
        connectionString = $"Data Source={database};Pooling=False";
        this.clients = clients;
        this.orders = orders;
        producer = new ProducerBuilder<byte[], byte[]>(clients.ProducerConfig()).Build();
    }

    /// <param name="shape">Which events the stages exchange and which topics they read (<see cref="FloorShape"/>).</param>
    /// <param name="raiseWriter">
    /// The write turn's holder runs raised, as the flow's does (<see cref="WriterPriority"/>,
    /// <c>OrderFlow:Database:RaiseWriterPriority</c>), where the machine permits it.
    /// </param>
    public static async Task<JsonNode> RunAsync(int orders, string database, KafkaOptions kafka, int pageSize, FloorShape shape, bool raiseWriter,
        CancellationToken cancellationToken)
    {
        var raised = raiseWriter && WriterPriority.TryEnable() is null;
        try
        {
            return await RunPipelineAsync(orders, database, kafka, pageSize, shape, raised, cancellationToken);
        }
        finally
        {
            if (raised) WriterPriority.Disable();
        }
    }

    private static async Task<JsonNode> RunPipelineAsync(int orders, string database, KafkaOptions kafka, int pageSize, FloorShape shape, bool raised,
        CancellationToken cancellationToken)
    {
        foreach (var suffix in new[] { "", "-wal", "-shm" }) File.Delete(database + suffix);
        await using var broker = EmbeddedBroker.Start(0, kafka.Partitions, [Created, Reserved, Paid, Notify]);
        var clients = new KafkaClientFactory(Options.Create(new KafkaOptions
        {
            BootstrapServers = broker.BootstrapServers, UsingEmbeddedBroker = true, Properties = kafka.Properties,
        }));
        await using var pipeline = new FloorPipeline(database, clients, orders, pageSize, shape);
        pipeline.CreateSchema();

        var process = Process.GetCurrentProcess();
        var cpuBefore = process.TotalProcessorTime;
        var switchesBefore = ContextSwitches.Read();
        var allocatedBefore = GC.GetTotalAllocatedBytes();
        var clock = Stopwatch.StartNew();
        Task[] workers = [.. pipeline.Stages().Select(pipeline.RunStage), Task.Factory.StartNew(pipeline.Generate, TaskCreationOptions.LongRunning), pipeline.CheckpointAsync()];
        try
        {
            using (cancellationToken.Register(() => pipeline.finished.TrySetCanceled(cancellationToken)))
            {
                var timeout = Task.Delay(TimeSpan.FromMinutes(10), cancellationToken);
                if (await Task.WhenAny(pipeline.finished.Task, timeout) != pipeline.finished.Task)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    throw new TimeoutException($"the floor pipeline did not finish {orders} orders in 10 minutes ({Interlocked.Read(ref pipeline.notified)} notified, {Interlocked.Read(ref pipeline.applied)} of {(long)pipeline.AppliedPerOrder * orders} events applied)");
                }
                // A stage's, the generator's or a delivery's failure, or the cancellation.
                await pipeline.finished.Task;
            }
        }
        catch
        {
            await pipeline.StopAsync(workers, observe: false);
            throw;
        }
        clock.Stop();
        process.Refresh();
        var cpu = process.TotalProcessorTime - cpuBefore;
        var switches = ContextSwitches.Read() - switchesBefore;
        var allocated = GC.GetTotalAllocatedBytes() - allocatedBefore;
        await pipeline.StopAsync(workers, observe: true);

        // What the run left in the store: every order completed and notified once, each stage's inbox holding each order's event once.
        long Count(string sql)
        {
            using var connection = pipeline.Open();
            using var command = connection.CreateCommand();
            command.CommandText = sql;
            return (long)command.ExecuteScalar()!;
        }
        var completed = Count("SELECT count(*) FROM orders WHERE status = 'Completed'");
        var notifications = Count("SELECT count(*) FROM notifications");
        var inbox = Count("SELECT count(*) FROM inbox");
        var applied = pipeline.AppliedPerOrder;
        if (completed != orders || notifications != orders || inbox != (long)applied * orders)
            throw new InvalidOperationException($"floor: {orders} orders ended with {completed} completed, {notifications} notifications and {inbox} inbox rows ({applied} per order expected)");

        var result = new JsonObject
        {
            ["orders"] = orders,
            ["seconds"] = clock.Elapsed.TotalSeconds,
            ["orders_per_second"] = orders / clock.Elapsed.TotalSeconds,
            ["cpu_ms_per_order"] = cpu.TotalMilliseconds / orders,
            ["allocated_kb_per_order"] = allocated / 1024.0 / orders,
            ["context_switches_per_order"] = switches is { } counted ? (double)counted.Total / orders : null,
            ["write_turn_busy"] = TimeSpan.FromTicks(pipeline.gateHeldTicks).TotalSeconds / clock.Elapsed.TotalSeconds,
            ["transactions_per_order"] = (double)pipeline.transactions / orders,
            ["partitions"] = kafka.Partitions,
            ["shape"] = shape switch { FloorShape.AllTopics => "all-topics", FloorShape.FlowEvents => "flow-events", _ => "chain" },
            ["deliveries_per_order"] = shape == FloorShape.Chain ? 4 : 16,
            ["applied_per_order"] = applied,
            ["sent_per_order"] = shape == FloorShape.FlowEvents ? 7 : 4,
            ["writer_priority_raised"] = raised,
            ["completed"] = completed,
            ["notifications"] = notifications,
            ["inbox_rows"] = inbox,
        };
        return result;
    }

    private void CreateSchema()
    {
        using var connection = Open();
        Execute(connection, $"PRAGMA page_size={pageSize}; PRAGMA journal_mode=WAL;");
        Execute(connection, """
            CREATE TABLE orders (id TEXT PRIMARY KEY, user_id TEXT NOT NULL, total TEXT NOT NULL, status TEXT NOT NULL, lines TEXT NOT NULL, updated_at TEXT NOT NULL);
            CREATE TABLE stock (product_id TEXT PRIMARY KEY, available INTEGER NOT NULL);
            CREATE TABLE reservations (id TEXT PRIMARY KEY, order_id TEXT NOT NULL, created_at TEXT NOT NULL);
            CREATE TABLE payment_requests (order_id TEXT PRIMARY KEY, amount TEXT NOT NULL, created_at TEXT NOT NULL);
            CREATE TABLE payments (id TEXT PRIMARY KEY, order_id TEXT NOT NULL, amount TEXT NOT NULL, created_at TEXT NOT NULL);
            CREATE TABLE notifications (id TEXT PRIMARY KEY, order_id TEXT NOT NULL, body TEXT NOT NULL, created_at TEXT NOT NULL);
            CREATE TABLE inbox (stage TEXT NOT NULL, event_id TEXT NOT NULL, received_at TEXT NOT NULL, PRIMARY KEY (stage, event_id));
            CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, key TEXT NOT NULL, type TEXT NOT NULL, payload BLOB NOT NULL);
            """);
        Execute(connection, $"WITH RECURSIVE p(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM p WHERE n + 1 < {Products}) "
            + $"INSERT INTO stock SELECT printf('PROD-%03d', n), {long.MaxValue / 2} FROM p;");
    }

    private SqliteConnection Open()
    {
        var connection = new SqliteConnection(connectionString);
        connection.Open();
        Execute(connection, $"PRAGMA busy_timeout=10000; PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint={(64 << 20) / pageSize};");
        return connection;
    }

    /// <summary>The WAL checkpointed in the background every 250 ms, as the flow's <c>WalCheckpointer</c> does by default, so commits do not.</summary>
    private async Task CheckpointAsync()
    {
        using var connection = Open();
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(250));
        try
        {
            while (await timer.WaitForNextTickAsync(stop.Token)) Execute(connection, "PRAGMA wal_checkpoint(PASSIVE);");
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    /// <summary>A prepared statement on <paramref name="connection"/> whose parameters are bound by position.</summary>
    private static SqliteCommand Prepare(SqliteConnection connection, string sql, int parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        for (var i = 1; i <= parameters; i++) command.Parameters.Add(new SqliteParameter($"${i}", null));
        command.Prepare();
        return command;
    }

    private static int Run(SqliteCommand command, params object[] values) => Set(command, values).ExecuteNonQuery();

    private static SqliteCommand Set(SqliteCommand command, params object[] values)
    {
        for (var i = 0; i < values.Length; i++) command.Parameters[i].Value = values[i];
        return command;
    }

    /// <summary>What a stage's handler may use: the stage's statements, in its transaction.</summary>
    private sealed class StageDb(SqliteConnection connection) : IDisposable
    {
        private readonly Dictionary<string, SqliteCommand> statements = [];
        private SqliteTransaction? transaction;

        public SqliteCommand this[string sql]
        {
            get
            {
                if (!statements.TryGetValue(sql, out var command)) statements[sql] = command = Prepare(connection, sql, sql.Count(c => c == '$'));
                command.Transaction = transaction;
                return command;
            }
        }

        /// <summary>A transaction that the statements handed out until the next one run in.</summary>
        public SqliteTransaction Begin() => transaction = connection.BeginTransaction();

        public void Dispose()
        {
            foreach (var command in statements.Values) command.Dispose();
        }
    }

    /// <summary>One outgoing event: its outbox row's id once inserted.</summary>
    private readonly record struct Outgoing(long Id, string Topic, byte[] Key, byte[] Type, byte[] Payload);

    /// <summary>
    /// Sends a transaction's outbox rows; each one's id goes to <paramref name="delivered"/> once it
    /// is delivered, for the stage's next transaction to delete. A failed delivery stops the run (the floor has no retry).
    /// </summary>
    private void Send(List<Outgoing> outgoing, System.Collections.Concurrent.ConcurrentQueue<long> delivered)
    {
        foreach (var message in outgoing)
        {
            var id = message.Id;
            producer.Produce(message.Topic, new Message<byte[], byte[]>
            {
                Key = message.Key, Value = message.Payload,
                Headers = [new Header("event_type", message.Type), new Header("event_version", "1"u8.ToArray())],
            }, report =>
            {
                if (report.Error.IsError) finished.TrySetException(new InvalidOperationException($"floor: delivery failed: {report.Error.Reason}"));
                else delivered.Enqueue(id);
            });
        }
    }

    /// <summary>
    /// One transaction of <paramref name="db"/> in the write turn, which every writer takes in turn
    /// as the flow's do: first the outbox rows <paramref name="delivered"/> since the last one are
    /// deleted, then <paramref name="work"/> runs.
    /// </summary>
    private void InTurn(StageDb db, System.Collections.Concurrent.ConcurrentQueue<long> delivered, Action work)
    {
        gate.Wait();
        var held = Stopwatch.GetTimestamp();
        var raised = WriterPriority.RaiseCurrentThread();
        try
        {
            using var transaction = db.Begin();
            var delete = db["DELETE FROM outbox WHERE id = $1"];
            while (delivered.TryDequeue(out var id)) Run(delete, id);
            work();
            transaction.Commit();
        }
        finally
        {
            Interlocked.Add(ref gateHeldTicks, Stopwatch.GetElapsedTime(held).Ticks);
            WriterPriority.Restore(raised);
            gate.Release();
        }
        Interlocked.Increment(ref transactions);
    }

    private static long InsertOutbox(StageDb db, string topic, string key, string type, byte[] payload)
    {
        var insert = db["INSERT INTO outbox (topic, key, type, payload) VALUES ($1, $2, $3, $4) RETURNING id"];
        insert.Parameters[0].Value = topic;
        insert.Parameters[1].Value = key;
        insert.Parameters[2].Value = type;
        insert.Parameters[3].Value = payload;
        return (long)insert.ExecuteScalar()!;
    }

    /// <summary>The <c>event_type</c> headers the stages send, encoded once.</summary>
    private static readonly Dictionary<string, byte[]> TypeBytes = new[] { "InventoryReserved", "PaymentCompleted", "OrderCompleted", "OrderStatusChanged", "Notification" }
        .ToDictionary(type => type, Encoding.UTF8.GetBytes);

    /// <summary>Events each order has applied by the stages once it is through: one inbox row each.</summary>
    private int AppliedPerOrder => shape == FloorShape.FlowEvents ? 6 : 4;

    /// <summary>What a stage's handler sends: <paramref name="Step"/> as a <paramref name="Type"/> event on <paramref name="Topic"/>.</summary>
    private readonly record struct Emitted(string Topic, string Type, FloorStep Step);

    /// <summary>Applies one event read from <paramref name="topic"/>, in the stage's transaction, adding what it sends to <paramref name="emit"/>.</summary>
    private delegate void Handler(StageDb db, string topic, FloorStep step, string now, List<Emitted> emit);

    /// <summary>
    /// One consumer stage: the topics it subscribes to, which deliveries it applies (by topic,
    /// <c>event_type</c> header and, for Notification, a look at the payload, before parsing: the
    /// others are skipped unread with no inbox row, as the flow's consumers skip theirs) and how.
    /// </summary>
    private sealed record Stage(string Name, string[] Topics, Func<ConsumeResult<byte[]?, byte[]?>, bool> Reads, Handler Handle);

    /// <summary>The four stages of <see cref="shape"/>.</summary>
    private Stage[] Stages()
    {
        if (shape == FloorShape.FlowEvents)
        {
            // SPEC §3's layout as the flow has it: order-events carries OrderCreated and Orders'
            // status changes; Inventory reads it and payment-events, Payment it and
            // inventory-events, Orders the two result topics, Notification order-events.
            // The filters are built once: they run for every delivery.
            var orderCreated = On(Created, "OrderCreated");
            var reserved = On(Reserved, "InventoryReserved");
            var paid = On(Paid, "PaymentCompleted");
            var statusChanged = On(Created, "OrderStatusChanged");
            return
            [
                new("inventory", [Created, Paid], orderCreated,
                    (db, _, step, now, emit) => emit.Add(new(Reserved, "InventoryReserved", Reserve(db, step, now)))),
                new("payment", [Created, Reserved], r => orderCreated(r) || reserved(r),
                    (db, topic, step, now, emit) =>
                    {
                        if (topic == Created) Request(db, step, now);
                        else emit.Add(new(Paid, "PaymentCompleted", Pay(db, step with { Amount = Requested(db, step) }, now)));
                    }),
                new("orders", [Reserved, Paid], r => reserved(r) || paid(r),
                    (db, topic, step, now, emit) =>
                    {
                        if (topic == Reserved)
                        {
                            // Changes nothing where the payment was read first.
                            Transition(db, step, now, "Created", "InventoryReserved", emit);
                            return;
                        }
                        // A payment read before its reservation (they come on different topics)
                        // records the reservation first, as the flow's Orders does.
                        var charged = Transition(db, step, now, "InventoryReserved", "Paid", emit)
                            || (Transition(db, step, now, "Created", "InventoryReserved", emit) && Transition(db, step, now, "InventoryReserved", "Paid", emit));
                        if (!charged || !Transition(db, step, now, "Paid", "Completed", emit))
                            throw new InvalidOperationException($"floor: order {step.OrderId} was paid twice");
                    }),
                new("notification", [Created], r => statusChanged(r) && Terminal(r),
                    (db, _, step, now, emit) =>
                    {
                        Record(db, step, now);
                        emit.Add(new(Notify, "Notification", step with { EventId = Guid.CreateVersion7().ToString("N"), Ref = "NTF-" + step.OrderId, Timestamp = now }));
                    }),
            ];
        }
        string[] topics(string input) => shape == FloorShape.AllTopics ? [Created, Reserved, Paid, Notify] : [input];
        return
        [
            new("inventory", topics(Created), On(Created), (db, _, step, now, emit) => emit.Add(new(Reserved, "InventoryReserved", Reserve(db, step, now)))),
            new("payment", topics(Reserved), On(Reserved), (db, _, step, now, emit) => emit.Add(new(Paid, "PaymentCompleted", Pay(db, step, now)))),
            new("orders", topics(Paid), On(Paid), (db, _, step, now, emit) => emit.Add(new(Notify, "OrderCompleted", Complete(db, step, now)))),
            new("notification", topics(Notify), On(Notify), (db, _, step, now, _) => Record(db, step, now)),
        ];
    }

    /// <summary>Deliveries from <paramref name="topic"/>, with an <c>event_type</c> header of <paramref name="type"/> if given.</summary>
    private static Func<ConsumeResult<byte[]?, byte[]?>, bool> On(string topic, string? type = null)
    {
        var typeBytes = type is null ? null : Encoding.UTF8.GetBytes(type);
        return result => result.Topic == topic && (typeBytes is null
            || result.Message.Headers is { } headers && headers.TryGetLastBytes("event_type", out var value) && value.AsSpan().SequenceEqual(typeBytes));
    }

    /// <summary>
    /// Whether a status change is the terminal one, read from its payload unparsed, as the flow's
    /// Notification reads <c>is_terminal</c> (<see cref="UnhandledPayloadFilter"/>).
    /// </summary>
    private static bool Terminal(ConsumeResult<byte[]?, byte[]?> result) =>
        result.Message.Value is { } payload && payload.AsSpan().IndexOf("\"status\":\"Completed\""u8) >= 0;

    /// <summary>One consumer stage on a thread of its own: batches from its topics, one transaction each.</summary>
    private Task RunStage(Stage stage) => Task.Factory.StartNew(() =>
    {
        using var connection = Open();
        using var db = new StageDb(connection);
        using var consumer = clients.CreateRawConsumer($"floor-{stage.Name}");
        consumer.Subscribe(stage.Topics);
        var delivered = new System.Collections.Concurrent.ConcurrentQueue<long>();
        var batch = new List<ConsumeResult<byte[]?, byte[]?>>(MaxBatch);
        var emitted = new List<Emitted>();
        var outgoing = new List<Outgoing>(MaxBatch);
        var highest = new Dictionary<TopicPartition, Offset>();
        try
        {
            while (!stop.IsCancellationRequested)
            {
                batch.Clear();
                outgoing.Clear();
                if (consumer.Consume(TimeSpan.FromMilliseconds(50)) is not { } first) continue;
                batch.Add(first);
                while (batch.Count < MaxBatch && consumer.Consume(TimeSpan.Zero) is { } next) batch.Add(next);

                var steps = batch.Where(stage.Reads)
                    .Select(r => (r.Topic, Step: JsonSerializer.Deserialize(r.Message.Value, FloorJson.Default.FloorStep)!)).ToList();
                var now = DateTime.UtcNow.ToString("O");
                var newlyApplied = 0;
                InTurn(db, delivered, () =>
                {
                    var inbox = db["INSERT OR IGNORE INTO inbox (stage, event_id, received_at) VALUES ($1, $2, $3)"];
                    foreach (var (topic, step) in steps)
                    {
                        if (Run(inbox, stage.Name, step.EventId, now) == 0) continue; // seen before
                        newlyApplied++;
                        emitted.Clear();
                        stage.Handle(db, topic, step, now, emitted);
                        foreach (var (output, type, next) in emitted)
                        {
                            var payload = JsonSerializer.SerializeToUtf8Bytes(next, FloorJson.Default.FloorStep);
                            outgoing.Add(new Outgoing(InsertOutbox(db, output, next.OrderId, type, payload), output, Encoding.UTF8.GetBytes(next.OrderId), TypeBytes[type], payload));
                        }
                    }
                });
                Send(outgoing, delivered);
                // Done once every stage has applied all its events: the last notification can come
                // before Payment has read every OrderCreated, which the flow's runs wait for too (settled).
                if (Interlocked.Add(ref applied, newlyApplied) == (long)AppliedPerOrder * orders) finished.TrySetResult();

                highest.Clear();
                foreach (var result in batch)
                    if (!highest.TryGetValue(result.TopicPartition, out var offset) || result.Offset > offset) highest[result.TopicPartition] = result.Offset;
                foreach (var (partition, offset) in highest) consumer.StoreOffset(new TopicPartitionOffset(partition, offset + 1));
            }
        }
        catch (Exception ex)
        {
            finished.TrySetException(ex);
            throw;
        }
        finally
        {
            consumer.Close();
        }
    }, TaskCreationOptions.LongRunning);

    /// <summary>Inventory: takes each line's quantity from stock (never below zero) and records the reservation.</summary>
    private static FloorStep Reserve(StageDb db, FloorStep step, string now)
    {
        var take = db["UPDATE stock SET available = available - $1 WHERE product_id = $2 AND available >= $1"];
        var ok = step.Items!.All(item => Run(take, item.Quantity, item.ProductId) == 1);
        var reservation = "RSV-" + step.OrderId;
        Run(db["INSERT INTO reservations (id, order_id, created_at) VALUES ($1, $2, $3)"], reservation, step.OrderId, now);
        return step with { EventId = Guid.CreateVersion7().ToString("N"), Ref = reservation, Status = ok ? "success" : "failed", Items = null, Timestamp = now };
    }

    /// <summary>Payment, in the flow's events: records what OrderCreated asks to be charged, for the reservation to come.</summary>
    private static void Request(StageDb db, FloorStep step, string now) =>
        Run(db["INSERT OR REPLACE INTO payment_requests (order_id, amount, created_at) VALUES ($1, $2, $3)"],
            step.OrderId, step.Amount.ToString(System.Globalization.CultureInfo.InvariantCulture), now);

    /// <summary>
    /// The amount OrderCreated asked for; the reservation's own figure where that has not been read
    /// yet (the two come on different topics, so their order is not fixed; the floor pays anyway).
    /// Read in the write turn, where the flow's Payment reads its requests before it: a primary-key
    /// lookup, ~1 % of the turn's time per order at most.
    /// </summary>
    private static decimal Requested(StageDb db, FloorStep step) =>
        Set(db["SELECT amount FROM payment_requests WHERE order_id = $1"], step.OrderId).ExecuteScalar() is string amount
            ? decimal.Parse(amount, System.Globalization.CultureInfo.InvariantCulture)
            : step.Amount;

    /// <summary>Payment: records the payment (the gateway always accepts).</summary>
    private static FloorStep Pay(StageDb db, FloorStep step, string now)
    {
        var payment = "PAY-" + step.OrderId;
        Run(db["INSERT INTO payments (id, order_id, amount, created_at) VALUES ($1, $2, $3, $4)"], payment, step.OrderId, step.Amount.ToString(System.Globalization.CultureInfo.InvariantCulture), now);
        return step with { EventId = Guid.CreateVersion7().ToString("N"), Ref = payment, Status = "success", Timestamp = now };
    }

    /// <summary>Orders: the order row becomes Completed.</summary>
    private static FloorStep Complete(StageDb db, FloorStep step, string now)
    {
        if (Run(db["UPDATE orders SET status = 'Completed', updated_at = $2 WHERE id = $1 AND status = 'Created'"], step.OrderId, now) != 1)
            throw new InvalidOperationException($"floor: order {step.OrderId} was not in Created");
        return step with { EventId = Guid.CreateVersion7().ToString("N"), Status = "Completed", Timestamp = now };
    }

    /// <summary>
    /// Orders, in the flow's events: the order row moves from <paramref name="from"/> to
    /// <paramref name="to"/>, and an OrderStatusChanged goes to order-events; false (and nothing
    /// sent) where the order was elsewhere.
    /// </summary>
    private static bool Transition(StageDb db, FloorStep step, string now, string from, string to, List<Emitted> emit)
    {
        if (Run(db["UPDATE orders SET status = $2, updated_at = $3 WHERE id = $1 AND status = $4"], step.OrderId, to, now, from) != 1) return false;
        emit.Add(new(Created, "OrderStatusChanged", step with { EventId = Guid.CreateVersion7().ToString("N"), Status = to, Items = null, Timestamp = now }));
        return true;
    }

    /// <summary>Notification: one row per order.</summary>
    private void Record(StageDb db, FloorStep step, string now)
    {
        Run(db["INSERT INTO notifications (id, order_id, body, created_at) VALUES ($1, $2, $3, $4)"], "NTF-" + step.OrderId, step.OrderId, $"Order {step.OrderId} completed", now);
        Interlocked.Increment(ref notified);
    }

    /// <summary>
    /// Places the orders: batches of order rows and their OrderCreated outbox rows, one transaction
    /// each, sent after the commit; at most <see cref="InFlight"/> orders not yet notified.
    /// </summary>
    private void Generate()
    {
        using var connection = Open();
        using var db = new StageDb(connection);
        var delivered = new System.Collections.Concurrent.ConcurrentQueue<long>();
        var outgoing = new List<Outgoing>(MaxBatch);
        var random = new Random(42);
        var created = 0;
        try
        {
            while (created < orders && !stop.IsCancellationRequested)
            {
                if (created - Interlocked.Read(ref notified) > InFlight - MaxBatch)
                {
                    Thread.Sleep(1);
                    continue;
                }
                outgoing.Clear();
                var now = DateTime.UtcNow.ToString("O");
                var count = Math.Min(MaxBatch, orders - created);
                InTurn(db, delivered, () =>
                {
                    var insert = db["INSERT INTO orders (id, user_id, total, status, lines, updated_at) VALUES ($1, $2, $3, 'Created', $4, $5)"];
                    for (var i = 0; i < count; i++)
                    {
                        var id = $"ORD-{created + i:D8}";
                        FloorItem[] items = [.. Enumerable.Range(0, 1 + random.Next(3)).Select(_ => new FloorItem($"PROD-{random.Next(Products):D3}", 1 + random.Next(3), 9.99m))];
                        var total = items.Sum(item => item.Quantity * item.Price);
                        var lines = JsonSerializer.Serialize(items, FloorJson.Default.FloorItemArray);
                        var user = $"USER-{random.Next(1000):D4}";
                        Run(insert, id, user, total.ToString(System.Globalization.CultureInfo.InvariantCulture), lines, now);
                        var step = new FloorStep(Guid.CreateVersion7().ToString("N"), id, user, "Created", total, items, now);
                        var payload = JsonSerializer.SerializeToUtf8Bytes(step, FloorJson.Default.FloorStep);
                        outgoing.Add(new Outgoing(InsertOutbox(db, Created, id, "OrderCreated", payload), Created, Encoding.UTF8.GetBytes(id), "OrderCreated"u8.ToArray(), payload));
                    }
                });
                Send(outgoing, delivered);
                created += count;
            }
        }
        catch (Exception ex)
        {
            finished.TrySetException(ex);
            throw;
        }
    }

    /// <summary>Stops the stages, the generator and the checkpoints and waits for them; with <paramref name="observe"/> a failure of theirs is thrown.</summary>
    private async Task StopAsync(Task[] workers, bool observe)
    {
        await stop.CancelAsync();
        try
        {
            await Task.WhenAll(workers);
        }
        catch when (!observe)
        {
            // The run failed already; that failure is the one reported.
        }
    }

    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync();
        producer.Flush(TimeSpan.FromSeconds(5));
        producer.Dispose();
        gate.Dispose();
        stop.Dispose();
    }
}

/// <summary>Which events the floor's stages exchange, and which topics each stage reads.</summary>
internal enum FloorShape
{
    /// <summary>
    /// The issue's: four stages in a chain, each reading one topic (created → reserved → paid →
    /// completed): per order 4 deliveries, 4 events applied and 4 sent, the generator's included.
    /// </summary>
    Chain,

    /// <summary>
    /// The chain, with every stage reading all four topics and skipping what is not its input:
    /// 16 deliveries per order, 12 of them skipped.
    /// </summary>
    AllTopics,

    /// <summary>
    /// The flow's events in SPEC §3's layout: Payment also applies OrderCreated (what to charge),
    /// Orders applies the reservation and the payment and sends three status changes on
    /// order-events, Notification applies the terminal one and sends a notification. Per order 16
    /// deliveries (10 skipped), 6 events applied and 7 sent, as in the flow; still none of the
    /// flow's other work (<see cref="FloorPipeline"/>'s remarks).
    /// </summary>
    FlowEvents,
}

/// <summary>
/// Every event of the floor pipeline. <see cref="Ref"/> is the user (OrderCreated), the reservation
/// (InventoryReserved), the payment (PaymentCompleted, and the status changes after it) or the
/// notification; <see cref="Items"/> only travels with OrderCreated.
/// </summary>
internal sealed record FloorStep(string EventId, string OrderId, string Ref, string Status, decimal Amount, FloorItem[]? Items, string Timestamp);

internal sealed record FloorItem(string ProductId, int Quantity, decimal Price);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(FloorStep))]
[JsonSerializable(typeof(FloorItem[]))]
internal sealed partial class FloorJson : JsonSerializerContext;
