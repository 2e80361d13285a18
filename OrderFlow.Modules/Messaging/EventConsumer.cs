using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.Channels;
using Confluent.Kafka;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OrderFlow.Persistence;
using Polly;
using Polly.Retry;

namespace OrderFlow.Messaging;

/// <summary>
/// The consumer loop every module runs. One thread polls; a bounded pool of workers applies.
/// <list type="number">
/// <item>The poll thread routes each message to the worker that owns its partition (a partition
/// always goes to the same worker, so per-key order is kept) through a bounded queue: when a
/// worker falls behind, the poll thread waits, and librdkafka's own prefetch queue is capped by
/// <c>queued.max.messages.kbytes</c> (KafkaClientFactory), so memory stays bounded.</item>
/// <item>A worker, on a thread of its own (<see cref="DedicatedThread"/>), takes what is queued for its partitions (up to <see cref="MessagingOptions.MaxBatchSize"/>),
/// parses it (a message that can never be applied goes to <c>&lt;topic&gt;.dlq</c> at once) and applies
/// the rest in one transaction: inbox rows (a known event_id is skipped), handlers, outbox rows.</item>
/// <item>Only after the commit it stores offset+1 of each partition's last message; auto-commit sends them.</item>
/// </list>
/// If the batch transaction fails, its messages are applied one by one, each retried with
/// exponential backoff and jitter, then dead-lettered. A crash anywhere replays from the last
/// stored offset and the inbox absorbs what was already applied. Before partitions are revoked
/// the poll thread waits until every queued message is applied and stored, then commits.
/// </summary>
internal sealed partial class EventConsumer<TContext>(
    EventConsumerRegistration registration, IServiceScopeFactory scopes, KafkaClientFactory kafka,
    DeadLetterPublisher deadLetters, OutboxSignal<TContext> outboxSignal, IOptions<MessagingOptions> options,
    MessagingMetrics metrics, DeliveryJournal journal, TimeProvider clock, ILogger<EventConsumer<TContext>> logger)
    : BackgroundService where TContext : ModuleDbContext
{
    private readonly MessagingOptions settings = options.Value;
    private readonly ResiliencePipeline retry = BuildRetry(options.Value, registration.Module, metrics, logger);

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        // Consume() blocks; the loop gets a thread of its own instead of a pool thread.
        Task.Factory.StartNew(() => Run(stoppingToken), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private void Run(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                RunConsumer(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
            }
            catch (Exception ex)
            {
                LogConsumerRestart(ex, registration.Module);
                stoppingToken.WaitHandle.WaitOne(TimeSpan.FromSeconds(1));
            }
        }
    }

    private void RunConsumer(CancellationToken stoppingToken)
    {
        var fatal = false;
        // Cancelled at shutdown, or by a worker that failed: the poll thread must not wait on a
        // queue nobody drains any more.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        var pool = new WorkerPool(this, registration.Module, registration.Topics, settings.Workers, settings.MaxBatchSize, BatchLinger.From(settings), stop);
        using var consumer = kafka.CreateRawConsumer(registration.GroupId, builder => builder
            .SetErrorHandler((_, error) =>
            {
                // A broker outage raises no exception (confluent-kafka-dotnet #982); it is logged here.
                if (error.IsFatal) fatal = true;
                LogKafkaError(registration.Module, error.Code, error.Reason);
            })
            .SetPartitionsAssignedHandler((_, partitions) => LogAssigned(registration.Module, Describe(partitions.Select(p => p.Topic))))
            .SetPartitionsRevokedHandler((c, partitions) =>
            {
                // Let the workers apply and store everything already handed to them, then commit:
                // the partitions change hands without replays.
                pool.WaitUntilIdle();
                try { c.Commit(); }
                catch (KafkaException ex) when (ex.Error.Code is ErrorCode.Local_NoOffset) { }
                catch (KafkaException ex) { LogCommitFailed(ex, registration.Module); }
                LogRevoked(registration.Module, Describe(partitions.Select(p => p.Topic)));
            }), new UnhandledPayloadFilter(registration, settings.MaxMessageBytes));
        consumer.Subscribe(registration.Topics);
        pool.Start(consumer);

        try
        {
            while (!stop.IsCancellationRequested && !fatal)
            {
                var result = consumer.Consume(TimeSpan.FromMilliseconds(100));
                if (result is not null) pool.Enqueue(result);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
        finally
        {
            pool.Stop();
            // Close commits the stored offsets and leaves the group at once, instead of the
            // group waiting for the session to time out.
            try { consumer.Close(); } catch (KafkaException ex) { LogCommitFailed(ex, registration.Module); }
        }
        if (pool.Failure is { } failure && !stoppingToken.IsCancellationRequested) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
    }

    /// <summary>
    /// The workers of one consumer. Partition → worker is fixed by the partition's topic and
    /// number, so one partition's messages are applied in order by one worker.
    /// </summary>
    private sealed class WorkerPool(EventConsumer<TContext> owner, string module, IReadOnlyList<string> topics, int size, int maxBatch, BatchLinger linger, CancellationTokenSource stop)
    {
        private readonly Channel<ConsumeResult<byte[]?, byte[]?>>[] queues = Enumerable.Range(0, size)
            .Select(_ => Channel.CreateBounded<ConsumeResult<byte[]?, byte[]?>>(new BoundedChannelOptions(2 * maxBatch)
            {
                SingleReader = true,
                SingleWriter = true,
            })).ToArray();
        private Task[] workers = [];
        private int pending;

        public Exception? Failure { get; private set; }

        // Each worker on a thread of its own (DedicatedThread), named for the module (Linux keeps
        // 15 bytes of a thread's name).
        public void Start(IConsumer<byte[]?, byte[]?> consumer) =>
            workers = queues.Select((q, i) => DedicatedThread.Run($"{DedicatedThread.ConsumerWorkerPrefix}{module}{(size > 1 ? i.ToString(System.Globalization.CultureInfo.InvariantCulture) : "")}",
                () => RunWorkerAsync(q.Reader, consumer))).ToArray();

        /// <summary>Hands a message to its partition's worker; blocks while that worker's queue is full.</summary>
        public void Enqueue(ConsumeResult<byte[]?, byte[]?> result)
        {
            var topic = 0;
            for (var i = 0; i < topics.Count; i++)
                if (string.Equals(topics[i], result.Topic, StringComparison.Ordinal)) topic = i;
            var writer = queues[(topic * 997 + result.Partition.Value) % queues.Length].Writer;
            Interlocked.Increment(ref pending);
            while (!writer.TryWrite(result))
            {
                if (!writer.WaitToWriteAsync(stop.Token).AsTask().GetAwaiter().GetResult())
                {
                    Interlocked.Decrement(ref pending);
                    return;
                }
            }
        }

        /// <summary>Waits until every message handed over is applied and its offset stored (or the loop stops).</summary>
        public void WaitUntilIdle() =>
            SpinWait.SpinUntil(() => Volatile.Read(ref pending) == 0 || stop.IsCancellationRequested || Failure is not null);

        /// <summary>Stops taking new batches; a batch in flight finishes (its transaction is not cancelled).</summary>
        public void Stop()
        {
            foreach (var queue in queues) queue.Writer.TryComplete();
            stop.Cancel();
            try { Task.WaitAll(workers); } catch (AggregateException) { }
        }

        private async Task RunWorkerAsync(ChannelReader<ConsumeResult<byte[]?, byte[]?>> reader, IConsumer<byte[]?, byte[]?> consumer)
        {
            var batch = new List<ConsumeResult<byte[]?, byte[]?>>(maxBatch);
            try
            {
                while (await reader.WaitToReadAsync(stop.Token))
                {
                    if (linger.ShouldWait(batch.Count, reader.Count)) await Task.Delay(linger.Wait, stop.Token);
                    batch.Clear();
                    while (batch.Count < maxBatch && reader.TryRead(out var next)) batch.Add(next);
                    await owner.ProcessAsync(batch, stop.Token);
                    owner.StoreOffsets(consumer, batch);
                    Interlocked.Add(ref pending, -batch.Count);
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
            }
            catch (Exception ex)
            {
                // Nothing of this batch is stored: it is replayed after the restart.
                Failure ??= ex;
                await stop.CancelAsync();
            }
        }
    }

    private static string Describe(IEnumerable<string> topics) =>
        string.Join(", ", topics.GroupBy(t => t).Select(g => $"{g.Count()} partition(s) of {g.Key}"));

    private void StoreOffsets(IConsumer<byte[]?, byte[]?> consumer, List<ConsumeResult<byte[]?, byte[]?>> batch)
    {
        // The highest offset of each partition in the batch. A batch holds a few partitions, so a
        // list searched in place; ConsumeResult.TopicPartition would allocate one per message.
        var last = new List<(string Topic, int Partition, long Offset)>(4);
        foreach (var result in batch)
        {
            var i = 0;
            while (i < last.Count && (last[i].Partition != result.Partition.Value || !string.Equals(last[i].Topic, result.Topic, StringComparison.Ordinal))) i++;
            if (i == last.Count) last.Add((result.Topic, result.Partition.Value, result.Offset.Value));
            else if (result.Offset.Value > last[i].Offset) last[i] = (result.Topic, result.Partition.Value, result.Offset.Value);
        }
        foreach (var (topic, partition, offset) in last)
        {
            try
            {
                // The committed offset is the next one to read: offset + 1.
                consumer.StoreOffset(new TopicPartitionOffset(topic, partition, offset + 1));
            }
            catch (KafkaException ex) when (ex.Error.Code == ErrorCode.Local_State)
            {
                // The partition was revoked meanwhile; its new owner replays and the inbox absorbs it.
                LogStoreAfterRevoke(registration.Module, new TopicPartition(topic, partition).ToString());
            }
        }
    }

    /// <summary>Applies one polled batch. Returns when every message is applied, ignored or dead-lettered.</summary>
    internal async Task ProcessAsync(IReadOnlyList<ConsumeResult<byte[]?, byte[]?>> batch, CancellationToken stoppingToken)
    {
        var toApply = new List<IncomingMessage>(batch.Count);
        foreach (var raw in batch)
        {
            // Left unread by the consumer's deserializer (a known event this module does not
            // handle): ten of an order's sixteen deliveries, ignored without a parse or an object.
            if (ReferenceEquals(raw.Message.Value, UnhandledPayloadFilter.Skipped)) continue;
            var message = IncomingMessage.Parse(raw, registration, settings.MaxMessageBytes);
            if (message.Error is not null)
                await DeadLetterAsync(message, message.Error, 1, stoppingToken);
            else if (!message.Ignored)
                toApply.Add(message);
        }
        if (toApply.Count == 0) return;

        var done = 0;
        if (settings.Batching && toApply.Count > 1)
        {
            try
            {
                foreach (var part in SplitAtRepeatedOrders(toApply))
                {
                    await ApplyAsync(part, CancellationToken.None);
                    done += part.Count;
                }
                return;
            }
            catch (Exception ex)
            {
                LogBatchFailed(ex, registration.Module, toApply.Count - done);
            }
        }
        foreach (var message in toApply.Skip(done)) await ApplyWithRetryAsync(message, stoppingToken);
    }

    /// <summary>
    /// Consecutive parts of a batch in which no order has two events. A handler's queries must see
    /// what the handler of an earlier event of the same order wrote (see <see cref="IEventHandler{TEvent}"/>),
    /// and a batch writes only at its end, so a second event of an order starts a new transaction.
    /// </summary>
    internal static IEnumerable<List<IncomingMessage>> SplitAtRepeatedOrders(IReadOnlyList<IncomingMessage> messages)
    {
        var part = new List<IncomingMessage>(messages.Count);
        var orders = new HashSet<string>(messages.Count, StringComparer.Ordinal);
        foreach (var message in messages)
        {
            if (!orders.Add(message.Event!.OrderId))
            {
                yield return part;
                part = [];
                orders.Clear();
                orders.Add(message.Event.OrderId);
            }
            part.Add(message);
        }
        if (part.Count > 0) yield return part;
    }

    private async Task ApplyWithRetryAsync(IncomingMessage message, CancellationToken stoppingToken)
    {
        // One span around every attempt: the retries, a refused transition and the dead letter are
        // logged inside the order's trace.
        using var activity = StartActivity(message);
        var attempts = 0;
        try
        {
            await retry.ExecuteAsync(async _ =>
            {
                attempts++;
                try
                {
                    await ApplyAsync([message], CancellationToken.None, traced: false);
                }
                catch (Exception ex)
                {
                    Journal(message, attempts, ex.GetType().Name + ": " + ex.Message, deadLettered: false);
                    throw;
                }
            }, stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex)
        {
            if (ex is IllegalTransitionException) LogIllegalTransition(registration.Module, message.Event!.EventType, message.Event.OrderId, ex.Message);
            activity?.SetStatus(ActivityStatusCode.Error, ex.Message);
            await DeadLetterAsync(message, $"{ex.GetType().Name}: {ex.Message}", attempts, stoppingToken);
        }
    }

    /// <summary>
    /// Applies messages of distinct orders in one transaction: inbox rows, the handlers' changes and
    /// outbox rows commit together. Everything but the writes runs before the write turn, while the
    /// other modules write: the inbox check, the preload and the handlers, on rows read at one
    /// version of the module (<see cref="ModuleVersion"/>). Inside the turn the version is read
    /// again: equal, nothing the batch read has changed and its changes are written; different
    /// (another transaction of the module committed meanwhile), all of it is dropped and the batch
    /// runs again with its reads and handlers inside the turn.
    /// </summary>
    private async Task ApplyAsync(IReadOnlyList<IncomingMessage> messages, CancellationToken cancellationToken, bool traced = true)
    {
        if (await TryApplyAsync(messages, inTurn: false, traced, cancellationToken)) return;
        metrics.Reloaded(registration.Module);
        await TryApplyAsync(messages, inTurn: true, traced, cancellationToken);
    }

    /// <summary>
    /// One attempt with a scope of its own. <paramref name="inTurn"/>: takes the write turn first
    /// and cannot fail for a change made meanwhile; else returns false when the module's version
    /// moved between the first read and the write turn, having written nothing.
    /// </summary>
    private async Task<bool> TryApplyAsync(IReadOnlyList<IncomingMessage> messages, bool inTurn, bool traced, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var module = registration.Module;
        var stage = inTurn ? $"{module}.in-turn" : module;
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<TContext>();
        WriteTransaction? transaction = null;
        // One open of the connection for the whole attempt: the version read, the inbox check, the
        // preload and the write transaction would each open and close it, and every open takes a
        // handle from Microsoft.Data.Sqlite's pool and registers EF Core's SQL functions on it
        // again, every close unregisters them (~5 % of all CPU at 1,000 orders/s, docs/benchmarks.md).
        // EF Core counts the opens: the nested ones leave it open.
        await db.Database.OpenConnectionAsync(cancellationToken);
        try
        {
            var mark = StageTimings.Record($"{stage}.scope", started);
            long held = 0, version = 0;
            HashSet<string> applied;
            if (inTurn)
            {
                transaction = await db.Database.BeginWriteTransactionAsync(cancellationToken).ConfigureAwait(false);
                held = mark = StageTimings.Record($"{stage}.gate-wait", mark);
                applied = await LoadAsync(db, messages, stage, cancellationToken);
            }
            else
            {
                // The version, the inbox check and the preload read one snapshot, in one read
                // transaction rather than one per statement (ReadSnapshot).
                await using (await ReadSnapshot.BeginAsync(db.Database, cancellationToken))
                {
                    version = await ModuleVersion.ReadAsync(db, cancellationToken);
                    // Parts of `load` (which stays the whole): the version read, the inbox check.
                    StageTimings.Record($"{stage}.load.version", mark, 0);
                    applied = await LoadAsync(db, messages, stage, cancellationToken);
                }
            }
            mark = StageTimings.Record($"{stage}.load", mark);

            var now = clock.GetUtcNow().UtcDateTime;
            var inbox = new List<InboxMessage>(messages.Count);
            var outboxRows = new List<OutboxMessage>(messages.Count * 2);
            foreach (var message in messages)
            {
                var evt = message.Event!;
                if (!applied.Add(evt.EventId))
                {
                    // Counted once the batch commits: an attempt that is dropped counts nothing.
                    db.AfterCommit(() => metrics.Duplicate(module));
                    continue;
                }
                using var activity = traced ? StartActivity(message) : null;
                inbox.Add(new InboxMessage
                {
                    EventId = evt.EventId,
                    EventType = evt.EventType,
                    OrderId = evt.OrderId,
                    Topic = message.Raw.Topic,
                    Partition = message.Raw.Partition.Value,
                    Offset = message.Raw.Offset.Value,
                    ProcessedAt = now,
                });
                await message.Binding!.Invoke(scope.ServiceProvider, evt, new Outbox(outboxRows, message, now, kafka.Options.Layout), cancellationToken);
            }
            mark = StageTimings.Record($"{stage}.handlers", mark, inbox.Count);
            // The statements and their parameters are built before the turn too; nothing changes
            // the tracked rows between here and the writes.
            var save = TrackedChangesWriter.Prepare(db);
            var inserts = InboxOutboxWriter.Prepare(db, inbox, outboxRows);
            mark = StageTimings.Record($"{stage}.prepare", mark);

            if (!inTurn)
            {
                // Not back to the worker's thread: handed the turn by another writer's release,
                // the writes run at once on that writer's thread, and the worker's thread takes
                // over again when the turn ends (WriteGate.Gate, WriteTurn.DisposeAsync).
                transaction = await db.Database.BeginWriteTransactionAsync(cancellationToken).ConfigureAwait(false);
                held = mark = StageTimings.Record($"{stage}.gate-wait", mark);
                // Another transaction of the module (the saga, the API, a second worker or process)
                // committed since the batch read its rows: what the handlers decided may be stale.
                if (await ModuleVersion.ReadAsync(db, cancellationToken) != version) return false;
            }

            using (var statements = new StatementCache(db))
            {
                // The scope is dropped after the commit: the tracked rows need not be marked saved.
                await save.ExecuteAsync(statements, cancellationToken);
                inserts.Execute(statements);
            }
            mark = StageTimings.Record($"{stage}.save", mark);
            await transaction!.CommitAsync(cancellationToken);
            StageTimings.Record($"{stage}.commit", mark);
            StageTimings.Record($"{stage}.gate-held", held, 0);
            if (outboxRows.Count > 0) outboxSignal.Committed(inserts.OutboxRows);
            if (inbox.Count > 0) metrics.Processed(module, inbox.Count, Stopwatch.GetElapsedTime(started).TotalSeconds / inbox.Count);
            return true;
        }
        finally
        {
            // Without a commit the transaction rolls back, and the context's after-commit actions
            // (metrics) go with it.
            if (transaction is not null) await transaction.DisposeAsync();
            await db.Database.CloseConnectionAsync();
        }
    }

    /// <summary>The event ids of the batch already in the inbox; then the batch's rows, when the module preloads them.</summary>
    private async Task<HashSet<string>> LoadAsync(TContext db, IReadOnlyList<IncomingMessage> messages, string stage, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        // Prepared lookups rather than an EF Core query: its pipeline (the list parameter, the
        // materializer) was ~1.4 % of all CPU at full speed (docs/benchmarks.md).
        var applied = await InboxOutboxWriter.AppliedAsync(db, messages.Select(m => m.Event!.EventId), cancellationToken);
        StageTimings.Record($"{stage}.load.inbox", started, 0);
        if (registration.Preload is { } preload)
        {
            var orderIds = messages.Where(m => !applied.Contains(m.Event!.EventId)).Select(m => m.Event!.OrderId).ToHashSet(StringComparer.Ordinal);
            db.IndexOrderRows();
            await preload(db, orderIds, cancellationToken);
            db.MarkPreloaded(orderIds);
        }
        return applied;
    }

    private Activity? StartActivity(IncomingMessage message)
    {
        var activity = MessagingTelemetry.StartInTrace(SpanName(message.Event!.EventType), ActivityKind.Consumer, message.TraceContext);
        // A span that no one records (the host's sampler drops what it cannot export) still carries
        // the trace to the logs and the published events; its tags would only be garbage.
        if (activity is not { IsAllDataRequested: true }) return activity;
        activity.SetTag("messaging.system", "kafka");
        activity.SetTag("messaging.destination.name", message.Raw.Topic);
        activity.SetTag("messaging.consumer.group.name", registration.GroupId);
        activity.SetTag("orderflow.module", registration.Module);
        activity.SetTag("orderflow.order_id", message.Event.OrderId);
        activity.SetTag("orderflow.event_id", message.Event.EventId);
        return activity;
    }

    private readonly ConcurrentDictionary<string, string> spanNames = new(StringComparer.Ordinal);

    /// <summary>"&lt;module&gt; &lt;EventType&gt;", built once per event type rather than per message.</summary>
    private string SpanName(string eventType) => spanNames.GetOrAdd(eventType, static (type, module) => $"{module} {type}", registration.Module);

    private async Task DeadLetterAsync(IncomingMessage message, string error, int attempts, CancellationToken stoppingToken)
    {
        await deadLetters.PublishAsync(message.Raw, registration.GroupId, error, attempts, stoppingToken);
        metrics.DeadLettered(registration.Module, message.Raw.Topic);
        Journal(message, attempts, error, deadLettered: true);
    }

    private void Journal(IncomingMessage message, int attempt, string error, bool deadLettered)
    {
        var orderId = message.Event?.OrderId ?? (message.Raw.Message.Key is { } key ? System.Text.Encoding.UTF8.GetString(key) : null);
        if (orderId is null) return;
        journal.Record(new DeliveryFailure(registration.Module, orderId, message.Event?.EventType ?? "?", message.Event?.EventId ?? "?",
            message.Raw.Topic, message.Raw.Partition.Value, message.Raw.Offset.Value, attempt, error, deadLettered, clock.GetUtcNow().UtcDateTime));
    }

    private static ResiliencePipeline BuildRetry(MessagingOptions options, string module, MessagingMetrics metrics, ILogger logger) =>
        new ResiliencePipelineBuilder()
            .AddRetry(new RetryStrategyOptions
            {
                MaxRetryAttempts = Math.Max(0, options.MaxAttempts - 1),
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = TimeSpan.FromMilliseconds(options.InitialBackoffMs),
                MaxDelay = TimeSpan.FromMilliseconds(options.MaxBackoffMs),
                ShouldHandle = new PredicateBuilder().Handle<Exception>(IsTransient),
                OnRetry = args =>
                {
                    metrics.Retry(module);
                    LogRetry(logger, args.Outcome.Exception, module, args.AttemptNumber + 1, args.RetryDelay.TotalMilliseconds);
                    return ValueTask.CompletedTask;
                },
            })
            .Build();

    /// <summary>Everything is worth retrying except what retrying cannot change.</summary>
    internal static bool IsTransient(Exception ex) => ex is not (PermanentMessageException or IllegalTransitionException
        or FluentValidation.ValidationException or OperationCanceledException);

    [LoggerMessage(LogLevel.Warning, "{Module}: attempt {Attempt} failed; retrying in {DelayMs:F0} ms")]
    private static partial void LogRetry(ILogger logger, Exception? ex, string module, int attempt, double delayMs);

    [LoggerMessage(LogLevel.Warning, "{Module}: batch of {Count} failed; applying its messages one by one")]
    private partial void LogBatchFailed(Exception ex, string module, int count);

    [LoggerMessage(LogLevel.Warning, "{Module}: illegal transition refused for {EventType} of order {OrderId}: {Detail}")]
    private partial void LogIllegalTransition(string module, string eventType, string orderId, string detail);

    [LoggerMessage(LogLevel.Error, "{Module}: consumer failed; restarting it")]
    private partial void LogConsumerRestart(Exception ex, string module);

    [LoggerMessage(LogLevel.Warning, "{Module}: Kafka error {Code}: {Reason}")]
    private partial void LogKafkaError(string module, ErrorCode code, string reason);

    [LoggerMessage(LogLevel.Information, "{Module}: assigned {Partitions}")]
    private partial void LogAssigned(string module, string partitions);

    [LoggerMessage(LogLevel.Information, "{Module}: revoked {Partitions}")]
    private partial void LogRevoked(string module, string partitions);

    [LoggerMessage(LogLevel.Warning, "{Module}: committing offsets failed")]
    private partial void LogCommitFailed(Exception ex, string module);

    [LoggerMessage(LogLevel.Debug, "{Module}: {Partition} was revoked before its offset was stored")]
    private partial void LogStoreAfterRevoke(string module, string partition);
}

/// <summary>A state machine refused a transition; the event is never applied (it is logged and dead-lettered).</summary>
public sealed class IllegalTransitionException(string message) : Exception(message);
