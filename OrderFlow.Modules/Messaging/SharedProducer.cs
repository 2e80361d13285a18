using Confluent.Kafka;
using Microsoft.Extensions.Logging;

namespace OrderFlow.Messaging;

/// <summary>
/// The one idempotent producer of the process. A fatal error (for example an out-of-order
/// sequence after a broker restart, librdkafka #3584) leaves an idempotent producer unusable:
/// the next send then builds a fresh one. Unsent rows stay in the outbox, so nothing is lost.
/// </summary>
public sealed partial class SharedProducer : IDisposable
{
    private readonly KafkaClientFactory clients;
    private readonly ILogger<SharedProducer> logger;
    private readonly Lock gate = new();
    private IProducer<byte[]?, byte[]?>? producer;
    private volatile bool broken;

    public SharedProducer(KafkaClientFactory clients, ILogger<SharedProducer> logger)
    {
        this.clients = clients;
        this.logger = logger;
    }

    /// <summary>Set while the broker reports transport-level errors; cleared by the next successful delivery.</summary>
    public string? LastError { get; private set; }

    private IProducer<byte[]?, byte[]?> Current
    {
        get
        {
            lock (gate)
            {
                if (producer is not null && !broken) return producer;
                var old = producer;
                producer = new ProducerBuilder<byte[]?, byte[]?>(clients.ProducerConfig())
                    .SetErrorHandler(OnError)
                    .SetLogHandler((_, m) => LogLibrdkafka(m.Level.ToString(), m.Facility, m.Message))
                    .Build();
                broken = false;
                if (old is not null) DisposeQuietly(old);
                return producer;
            }
        }
    }

    /// <summary>
    /// Creates the client now rather than at the first message. An idempotent producer needs a
    /// producer id before it sends anything; librdkafka asks for it as soon as the client starts,
    /// and when the broker connection is not up yet it retries only after 500 ms ("Coordinator not
    /// up", rdkafka_idempotence.c), so a client created by the first message held that message
    /// back half a second in about half of the short runs (docs/benchmarks.md). The relays
    /// call this when they start.
    /// </summary>
    public void Connect() => _ = Current;

    public void Produce(string topic, Message<byte[]?, byte[]?> message, Action<DeliveryReport<byte[]?, byte[]?>> onDelivered)
    {
        try
        {
            Current.Produce(topic, message, report =>
            {
                if (report.Error.IsError) LastError = report.Error.Reason; else LastError = null;
                onDelivered(report);
            });
        }
        catch (ProduceException<byte[]?, byte[]?> ex) when (ex.Error.Code == ErrorCode.Local_QueueFull)
        {
            Current.Poll(TimeSpan.FromMilliseconds(50));
            throw;
        }
    }

    /// <summary>Sends one message and waits for the broker's acknowledgement; throws <see cref="ProduceException{TKey,TValue}"/> when it fails.</summary>
    public async Task ProduceAsync(string topic, Message<byte[]?, byte[]?> message, CancellationToken cancellationToken)
    {
        // No result: the delivery reports carry the status only (KafkaClientFactory), so a result's message would be empty.
        await Current.ProduceAsync(topic, message, cancellationToken);
        LastError = null;
    }

    private void OnError(IProducer<byte[]?, byte[]?> source, Error error)
    {
        LastError = error.Reason;
        if (error.IsFatal)
        {
            LogFatal(error.Code, error.Reason);
            broken = true;
        }
        else
        {
            LogTransient(error.Code, error.Reason);
        }
    }

    private void DisposeQuietly(IProducer<byte[]?, byte[]?> old)
    {
        try { old.Dispose(); }
        catch (Exception ex) { LogDisposeFailed(ex); }
    }

    public void Dispose()
    {
        lock (gate)
        {
            if (producer is null) return;
            try { producer.Flush(TimeSpan.FromSeconds(10)); } catch (KafkaException) { }
            DisposeQuietly(producer);
            producer = null;
        }
    }

    [LoggerMessage(LogLevel.Critical, "Fatal producer error {Code}: {Reason}; the producer will be rebuilt")]
    private partial void LogFatal(ErrorCode code, string reason);

    [LoggerMessage(LogLevel.Warning, "Producer error {Code}: {Reason}")]
    private partial void LogTransient(ErrorCode code, string reason);

    [LoggerMessage(LogLevel.Warning, "Disposing the old producer failed")]
    private partial void LogDisposeFailed(Exception ex);

    [LoggerMessage(LogLevel.Debug, "librdkafka {Level} {Facility}: {Message}")]
    private partial void LogLibrdkafka(string level, string facility, string message);
}
