using Confluent.Kafka;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OrderFlow.Persistence;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text;

namespace OrderFlow.Messaging;

/// <summary>
/// Publishes a module's outbox rows in id order through the shared idempotent producer, then
/// deletes the rows that the broker acknowledged. A crash between the two publishes them again;
/// the consumers' inboxes absorb the copy. Rows that fail stay and are retried on the next pass.
/// <para>
/// Deletes are deferred: the relay remembers the highest id below which every row was delivered
/// and reads only past it, and deletes up to it at most every <see cref="DeleteInterval"/> (or
/// when idle). Each delete is a write transaction, and waiting for the write lock once per pass
/// held the next pass back (docs/benchmarks.md). Reading past the mark relies on ids becoming
/// visible in id order, which SQLite's single writer guarantees; on a server database with
/// concurrent writers this read would need the pending rows' ids instead.
/// </para>
/// <para>
/// The consumers, the load generator, the HTTP API's place and cancel and the saga hand their rows
/// over as they commit (<see cref="OutboxSignal{TContext}.Committed"/>): while those rows carry on from the mark without
/// a gap, the relay sends them without reading the table (the read cost ~5 % of all allocations,
/// docs/benchmarks.md). Any gap (a row from a path that does not hand off, a full queue, a failed
/// delivery) sends it back to the table. The backlog gauge then counts the rows handed over.
/// </para>
/// </summary>
internal sealed partial class OutboxRelay<TContext>(
    IServiceScopeFactory scopes, SharedProducer producer, OutboxSignal<TContext> signal,
    IOptions<MessagingOptions> options, MessagingMetrics metrics, ILogger<OutboxRelay<TContext>> logger)
    : BackgroundService where TContext : ModuleDbContext
{
    private static readonly TimeSpan DeleteInterval = TimeSpan.FromMilliseconds(250);

    private readonly string module = Stages.Module;
    // The rows a pass takes from the hand-off; a pass that reads the table gets a list of its own.
    private readonly List<PendingOutboxRow> handedOff = [];
    private long deliveredThrough;
    private long deletedThrough;
    private long lastDelete = Stopwatch.GetTimestamp();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = TimeSpan.FromMilliseconds(options.Value.OutboxPollIntervalMs);
        var failures = 0;
        try
        {
            producer.Connect();
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Only a head start: the first message creates the client otherwise, and fails the pass if it cannot.
            LogConnectFailed(ex, module);
        }
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                int sent;
                do
                {
                    sent = await RelayOnceAsync(stoppingToken);
                } while (sent == options.Value.OutboxBatchSize && !stoppingToken.IsCancellationRequested);
                failures = 0;
                await signal.WaitAsync(interval, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                failures++;
                LogRelayFailed(ex, module, failures);
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(5_000, 100 * Math.Pow(2, Math.Min(failures, 6)))), stoppingToken)
                    .ContinueWith(_ => { }, TaskScheduler.Default);
            }
        }
        // Drain on shutdown: whatever was committed before the stop goes out now if the broker is
        // up; bounded, so a broker that is down cannot hold the shutdown (the rows stay for next time).
        using var drain = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await RelayOnceAsync(drain.Token);
            await DeleteDeliveredAsync(force: true);
        }
        catch (Exception ex)
        {
            LogRelayFailed(ex, module, failures);
        }
    }

    /// <summary>Sends one batch; returns how many rows were published.</summary>
    internal async Task<int> RelayOnceAsync(CancellationToken cancellationToken)
    {
        var mark = Stopwatch.GetTimestamp();
        var rows = handedOff;
        rows.Clear();
        long backlog;
        if (signal.TryTake(deliveredThrough, options.Value.OutboxBatchSize, rows))
        {
            // The rows the writers handed over as they committed: the next ids, none left out.
            backlog = rows.Count + signal.Queued;
            mark = StageTimings.Record(Stages.HandedOff, mark, rows.Count);
        }
        else
        {
            await using (var scope = scopes.CreateAsyncScope())
            {
                var db = scope.ServiceProvider.GetRequiredService<TContext>();
                // A full batch means there may be more: they are counted, so the backlog gauge is not capped at the batch size.
                (rows, backlog) = await InboxOutboxWriter.PendingAsync(db, deliveredThrough, options.Value.OutboxBatchSize, cancellationToken);
            }
            mark = StageTimings.Record(Stages.Select, mark, rows.Count);
        }
        metrics.SetOutboxBacklog(module, backlog);
        if (rows.Count == 0)
        {
            await DeleteDeliveredAsync(force: true);
            return 0;
        }

        var delivered = new bool[rows.Count];
        var failed = 0;
        var pending = rows.Count;
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        string? firstError = null;
        for (var i = 0; i < rows.Count; i++)
        {
            var index = i;
            var row = rows[i];
            var message = new Message<byte[]?, byte[]?>
            {
                Key = row.Key,
                Value = row.Payload,
                Headers = EventHeaders(row),
            };
            try
            {
                producer.Produce(row.Topic, message, report =>
                {
                    if (report.Error.IsError)
                    {
                        Interlocked.Increment(ref failed);
                        firstError ??= report.Error.Reason;
                    }
                    else
                    {
                        delivered[index] = true;
                    }
                    if (Interlocked.Decrement(ref pending) == 0) done.TrySetResult();
                });
            }
            catch (KafkaException ex)
            {
                firstError ??= ex.Error.Reason;
                // Later rows of the same key must not overtake this one.
                var skipped = rows.Count - i;
                Interlocked.Add(ref failed, skipped);
                if (Interlocked.Add(ref pending, -skipped) == 0) done.TrySetResult();
                break;
            }
        }
        await done.Task.WaitAsync(cancellationToken);
        mark = StageTimings.Record(Stages.Produce, mark, rows.Count);

        // Only the unbroken run of delivered rows counts: a row after a failed one is sent again
        // with it next pass (the inbox absorbs the copy), so order per key is kept.
        var run = 0;
        while (run < rows.Count && delivered[run]) run++;
        if (run > 0)
        {
            deliveredThrough = rows[run - 1].Id;
            metrics.OutboxPublished(module, run);
        }
        await DeleteDeliveredAsync(force: false);
        StageTimings.Record(Stages.Delete, mark, 0);
        if (failed > 0) throw new KafkaException(new Error(ErrorCode.Local_Fail, $"{failed} of {rows.Count} outbox rows were not delivered: {firstError}"));
        return run;
    }

    private async Task DeleteDeliveredAsync(bool force)
    {
        if (deliveredThrough <= deletedThrough) return;
        if (!force && Stopwatch.GetElapsedTime(lastDelete) < DeleteInterval) return;
        var through = deliveredThrough;
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<TContext>();
        await using (await WriteGate.EnterAsync(db.Database, CancellationToken.None))
        {
            var held = Stopwatch.GetTimestamp();
            await db.OutboxMessages.Where(m => m.Id <= through).ExecuteDeleteAsync(CancellationToken.None);
            StageTimings.Record(Stages.DeleteHeld, held, 0);
        }
        deletedThrough = through;
        lastDelete = Stopwatch.GetTimestamp();
    }

    internal static Headers EventHeaders(PendingOutboxRow row)
    {
        var headers = new Headers
        {
            TypeHeader(row.EventType),
            VersionHeader(row.EventVersion),
            { HeaderNames.EventId, row.EventId },
        };
        if (row.TraceParent is not null) headers.Add(HeaderNames.TraceParent, row.TraceParent);
        return headers;
    }

    // The producer copies header names and values when it sends (rd_kafka_producev) and keeps no
    // reference to them, so one Header object per event type and per version serves every message.
    private static readonly ConditionalWeakTable<byte[], Header> TypeHeaders = new();

    private static readonly Header[] VersionHeaders = Enumerable.Range(0, 10).Select(NewVersionHeader).ToArray();

    // The relay's rows share one array per type name (InboxOutboxWriter.EventTypeNames), so the table holds a handful of entries.
    private static Header TypeHeader(byte[] eventType) =>
        TypeHeaders.GetValue(eventType, static bytes => new Header(HeaderNames.EventType, bytes));

    private static Header VersionHeader(int version) => version is >= 0 and < 10 ? VersionHeaders[version] : NewVersionHeader(version);

    private static Header NewVersionHeader(int version) =>
        new(HeaderNames.EventVersion, Encoding.UTF8.GetBytes(version.ToString(System.Globalization.CultureInfo.InvariantCulture)));

    // This module's stage names (StageTimings), made once rather than formatted on every pass.
    private static class Stages
    {
        public static readonly string Module = StoreServiceCollectionExtensions.TablePrefixOf(typeof(TContext));
        public static readonly string HandedOff = $"relay.{Module}.handed-off";
        public static readonly string Select = $"relay.{Module}.select";
        public static readonly string Produce = $"relay.{Module}.produce";
        public static readonly string Delete = $"relay.{Module}.delete";
        public static readonly string DeleteHeld = $"relay.{Module}.delete-held";
    }

    [LoggerMessage(LogLevel.Warning, "Outbox relay of {Module}: the producer could not be created at start; the first message tries again")]
    private partial void LogConnectFailed(Exception ex, string module);

    [LoggerMessage(LogLevel.Warning, "Outbox relay of {Module} failed ({Failures} in a row); retrying")]
    private partial void LogRelayFailed(Exception ex, string module, int failures);
}
