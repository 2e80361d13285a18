using Confluent.Kafka;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OrderFlow.Persistence;
using System.Text;

namespace OrderFlow.Messaging;

/// <summary>
/// Publishes a module's outbox rows in id order through the shared idempotent producer, then
/// deletes the rows that the broker acknowledged. A crash between the two publishes them again;
/// the consumers' inboxes absorb the copy. Rows that fail stay and are retried on the next pass.
/// </summary>
internal sealed partial class OutboxRelay<TContext>(
    IServiceScopeFactory scopes, SharedProducer producer, OutboxSignal<TContext> signal,
    IOptions<MessagingOptions> options, MessagingMetrics metrics, ILogger<OutboxRelay<TContext>> logger)
    : BackgroundService where TContext : ModuleDbContext
{
    private readonly string module = StoreServiceCollectionExtensions.TablePrefixOf(typeof(TContext));

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = TimeSpan.FromMilliseconds(options.Value.OutboxPollIntervalMs);
        var failures = 0;
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
        // Drain on shutdown: whatever was committed before the stop goes out now if the broker is up.
        try { await RelayOnceAsync(CancellationToken.None); } catch (Exception ex) { LogRelayFailed(ex, module, failures); }
    }

    /// <summary>Sends one batch; returns how many rows were published and removed.</summary>
    internal async Task<int> RelayOnceAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<TContext>();
        var rows = await db.OutboxMessages.AsNoTracking().OrderBy(m => m.Id).Take(options.Value.OutboxBatchSize).ToListAsync(cancellationToken);
        metrics.SetOutboxBacklog(module, rows.Count);
        if (rows.Count == 0) return 0;

        var delivered = new long[rows.Count];
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
                Key = Encoding.UTF8.GetBytes(row.Key),
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
                        delivered[index] = row.Id;
                    }
                    if (Interlocked.Decrement(ref pending) == 0) done.TrySetResult();
                });
            }
            catch (KafkaException ex)
            {
                firstError ??= ex.Error.Reason;
                Interlocked.Increment(ref failed);
                if (Interlocked.Decrement(ref pending) == 0) done.TrySetResult();
                // Later rows of the same key must not overtake this one.
                for (var j = i + 1; j < rows.Count; j++)
                {
                    Interlocked.Increment(ref failed);
                    if (Interlocked.Decrement(ref pending) == 0) done.TrySetResult();
                }
                break;
            }
        }
        await done.Task.WaitAsync(cancellationToken);

        var ids = delivered.Where(id => id != 0).ToList();
        if (ids.Count > 0)
        {
            using (await WriteGate.EnterAsync(db.Database, CancellationToken.None))
                await db.OutboxMessages.Where(m => ids.Contains(m.Id)).ExecuteDeleteAsync(CancellationToken.None);
            metrics.OutboxPublished(module, ids.Count);
        }
        if (failed > 0) throw new KafkaException(new Error(ErrorCode.Local_Fail, $"{failed} of {rows.Count} outbox rows were not delivered: {firstError}"));
        return ids.Count;
    }

    internal static Headers EventHeaders(OutboxMessage row)
    {
        var headers = new Headers
        {
            { HeaderNames.EventType, Encoding.UTF8.GetBytes(row.EventType) },
            { HeaderNames.EventVersion, Encoding.UTF8.GetBytes(row.EventVersion.ToString(System.Globalization.CultureInfo.InvariantCulture)) },
            { HeaderNames.EventId, Encoding.UTF8.GetBytes(row.EventId) },
        };
        if (row.TraceParent is not null) headers.Add(HeaderNames.TraceParent, Encoding.UTF8.GetBytes(row.TraceParent));
        return headers;
    }

    [LoggerMessage(LogLevel.Warning, "Outbox relay of {Module} failed ({Failures} in a row); retrying")]
    private partial void LogRelayFailed(Exception ex, string module, int failures);
}
