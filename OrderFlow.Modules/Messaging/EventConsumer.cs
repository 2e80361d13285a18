using System.Diagnostics;
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
/// The consumer loop every module runs. Per poll it takes the messages already fetched (up to
/// <see cref="MessagingOptions.MaxBatchSize"/>), then:
/// <list type="number">
/// <item>parses raw bytes; a message that can never be applied goes to <c>&lt;topic&gt;.dlq</c> at once;</item>
/// <item>applies the rest in one transaction: inbox rows (a known event_id is skipped), handlers, outbox rows;</item>
/// <item>only after the commit stores offset+1 of each partition's last message; auto-commit sends them.</item>
/// </list>
/// If the batch transaction fails, its messages are applied one by one, each retried with
/// exponential backoff and jitter, then dead-lettered. A crash anywhere replays from the last
/// stored offset and the inbox absorbs what was already applied.
/// </summary>
internal sealed partial class EventConsumer<TContext>(
    EventConsumerRegistration registration, IServiceScopeFactory scopes, KafkaClientFactory kafka,
    DeadLetterPublisher deadLetters, OutboxSignal<TContext> outboxSignal, IOptions<MessagingOptions> options,
    MessagingMetrics metrics, TimeProvider clock, ILogger<EventConsumer<TContext>> logger)
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
                // Everything consumed so far is applied and stored (processing is synchronous with
                // Consume), so committing here hands the partitions over without replays.
                try { c.Commit(); }
                catch (KafkaException ex) when (ex.Error.Code is ErrorCode.Local_NoOffset) { }
                catch (KafkaException ex) { LogCommitFailed(ex, registration.Module); }
                LogRevoked(registration.Module, Describe(partitions.Select(p => p.Topic)));
            }));
        consumer.Subscribe(registration.Topics);

        var batch = new List<ConsumeResult<byte[]?, byte[]?>>(settings.MaxBatchSize);
        try
        {
            while (!stoppingToken.IsCancellationRequested && !fatal)
            {
                batch.Clear();
                var first = consumer.Consume(TimeSpan.FromMilliseconds(100));
                if (first is null) continue;
                batch.Add(first);
                while (batch.Count < settings.MaxBatchSize && consumer.Consume(TimeSpan.Zero) is { } next) batch.Add(next);

                ProcessAsync(batch, stoppingToken).GetAwaiter().GetResult();
                StoreOffsets(consumer, batch);
            }
        }
        finally
        {
            // Close commits the stored offsets and leaves the group at once, instead of the
            // group waiting for the session to time out.
            try { consumer.Close(); } catch (KafkaException ex) { LogCommitFailed(ex, registration.Module); }
        }
    }

    private static string Describe(IEnumerable<string> topics) =>
        string.Join(", ", topics.GroupBy(t => t).Select(g => $"{g.Count()} partition(s) of {g.Key}"));

    private void StoreOffsets(IConsumer<byte[]?, byte[]?> consumer, List<ConsumeResult<byte[]?, byte[]?>> batch)
    {
        foreach (var last in batch.GroupBy(r => r.TopicPartition).Select(g => g.MaxBy(r => r.Offset.Value)!))
        {
            try
            {
                // The committed offset is the next one to read: offset + 1.
                consumer.StoreOffset(new TopicPartitionOffset(last.TopicPartition, last.Offset + 1));
            }
            catch (KafkaException ex) when (ex.Error.Code == ErrorCode.Local_State)
            {
                // The partition was revoked meanwhile; its new owner replays and the inbox absorbs it.
                LogStoreAfterRevoke(registration.Module, last.TopicPartition.ToString());
            }
        }
    }

    /// <summary>Applies one polled batch. Returns when every message is applied, ignored or dead-lettered.</summary>
    internal async Task ProcessAsync(IReadOnlyList<ConsumeResult<byte[]?, byte[]?>> batch, CancellationToken stoppingToken)
    {
        var toApply = new List<IncomingMessage>(batch.Count);
        foreach (var raw in batch)
        {
            var message = IncomingMessage.Parse(raw, registration, settings.MaxMessageBytes);
            if (message.Error is not null)
                await DeadLetterAsync(message, message.Error, 1, stoppingToken);
            else if (!message.Ignored)
                toApply.Add(message);
        }
        if (toApply.Count == 0) return;

        if (settings.Batching && toApply.Count > 1)
        {
            try
            {
                await ApplyAsync(toApply, CancellationToken.None);
                return;
            }
            catch (Exception ex)
            {
                LogBatchFailed(ex, registration.Module, toApply.Count);
            }
        }
        foreach (var message in toApply) await ApplyWithRetryAsync(message, stoppingToken);
    }

    private async Task ApplyWithRetryAsync(IncomingMessage message, CancellationToken stoppingToken)
    {
        var attempts = 0;
        try
        {
            await retry.ExecuteAsync(async _ =>
            {
                attempts++;
                await ApplyAsync([message], CancellationToken.None);
            }, stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex)
        {
            if (ex is IllegalTransitionException) LogIllegalTransition(registration.Module, message.Event!.EventType, message.Event.OrderId, ex.Message);
            await DeadLetterAsync(message, $"{ex.GetType().Name}: {ex.Message}", attempts, stoppingToken);
        }
    }

    /// <summary>One transaction: inbox rows, handlers and outbox rows for every message, then commit.</summary>
    private async Task ApplyAsync(IReadOnlyList<IncomingMessage> messages, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<TContext>();
        await using var transaction = await db.Database.BeginWriteTransactionAsync(cancellationToken);

        var eventIds = messages.Select(m => m.Event!.EventId).Distinct().ToList();
        var applied = (await db.Inbox.Where(i => eventIds.Contains(i.EventId)).Select(i => i.EventId).ToListAsync(cancellationToken))
            .ToHashSet(StringComparer.Ordinal);
        var now = clock.GetUtcNow().UtcDateTime;
        var count = 0;
        foreach (var message in messages)
        {
            var evt = message.Event!;
            if (!applied.Add(evt.EventId))
            {
                metrics.Duplicate(registration.Module);
                continue;
            }
            using var activity = StartActivity(message);
            db.Inbox.Add(new InboxMessage
            {
                EventId = evt.EventId,
                EventType = evt.EventType,
                OrderId = evt.OrderId,
                Topic = message.Raw.Topic,
                Partition = message.Raw.Partition.Value,
                Offset = message.Raw.Offset.Value,
                ProcessedAt = now,
            });
            var outbox = new Outbox(db, message.TraceParent, now);
            await message.Binding!.Invoke(scope.ServiceProvider, evt, outbox, cancellationToken);
            // Saved per message, so the next handler's queries see this one's rows.
            await db.SaveChangesAsync(cancellationToken);
            count++;
        }
        await transaction.CommitAsync(cancellationToken);
        outboxSignal.Notify();
        if (count > 0) metrics.Processed(registration.Module, count, Stopwatch.GetElapsedTime(started).TotalSeconds / count);
    }

    private Activity? StartActivity(IncomingMessage message)
    {
        if (!MessagingTelemetry.Source.HasListeners()) return null;
        ActivityContext.TryParse(message.TraceParent, null, out var parent);
        var activity = MessagingTelemetry.Source.StartActivity($"{registration.Module} {message.Event!.EventType}", ActivityKind.Consumer, parent);
        activity?.SetTag("messaging.system", "kafka");
        activity?.SetTag("messaging.destination.name", message.Raw.Topic);
        activity?.SetTag("messaging.consumer.group.name", registration.GroupId);
        activity?.SetTag("orderflow.module", registration.Module);
        activity?.SetTag("orderflow.order_id", message.Event.OrderId);
        activity?.SetTag("orderflow.event_id", message.Event.EventId);
        return activity;
    }

    private async Task DeadLetterAsync(IncomingMessage message, string error, int attempts, CancellationToken stoppingToken)
    {
        await deadLetters.PublishAsync(message.Raw, registration.GroupId, error, attempts, stoppingToken);
        metrics.DeadLettered(registration.Module, message.Raw.Topic);
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
