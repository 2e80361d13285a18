using System.Globalization;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using OrderFlow.Contracts;

namespace OrderFlow.Messaging;

/// <summary>
/// Copies a message that cannot be applied to <c>&lt;topic&gt;.dlq</c>, unchanged, with headers
/// naming its source topic, partition, offset, the error and the attempt count. The consumer
/// stores the offset only after the broker acknowledged the dead letter, so nothing is lost.
/// </summary>
public sealed partial class DeadLetterPublisher(SharedProducer producer, TimeProvider clock, ILogger<DeadLetterPublisher> logger)
{
    public async Task PublishAsync(ConsumeResult<byte[]?, byte[]?> source, string consumerGroup, string error, int attempts, CancellationToken cancellationToken)
    {
        var headers = new Headers();
        if (source.Message.Headers is not null)
            foreach (var header in source.Message.Headers)
                if (!header.Key.StartsWith("dlq_", StringComparison.Ordinal)) headers.Add(header.Key, header.GetValueBytes());
        headers.Set(HeaderNames.DlqSourceTopic, source.Topic);
        headers.Set(HeaderNames.DlqSourcePartition, source.Partition.Value.ToString(CultureInfo.InvariantCulture));
        headers.Set(HeaderNames.DlqSourceOffset, source.Offset.Value.ToString(CultureInfo.InvariantCulture));
        headers.Set(HeaderNames.DlqError, Truncate(error, 2_000));
        headers.Set(HeaderNames.DlqAttempts, attempts.ToString(CultureInfo.InvariantCulture));
        headers.Set(HeaderNames.DlqConsumerGroup, consumerGroup);
        headers.Set(HeaderNames.DlqFailedAt, clock.GetUtcNow().UtcDateTime.ToString("O", CultureInfo.InvariantCulture));

        var message = new Message<byte[]?, byte[]?> { Key = source.Message.Key, Value = source.Message.Value, Headers = headers };
        var topic = Topics.DeadLetter(source.Topic);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await producer.ProduceAsync(topic, message, cancellationToken);
                LogDeadLettered(source.Topic, source.Partition.Value, source.Offset.Value, attempts, error);
                return;
            }
            catch (ProduceException<byte[]?, byte[]?> ex) when (!cancellationToken.IsCancellationRequested)
            {
                LogDeadLetterFailed(ex, topic, attempt);
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(5_000, 100 * attempt)), cancellationToken);
            }
        }
    }

    private static string Truncate(string text, int max) => text.Length <= max ? text : text[..max];

    [LoggerMessage(LogLevel.Warning, "Dead-lettered {Topic}[{Partition}]@{Offset} after {Attempts} attempt(s): {Error}")]
    private partial void LogDeadLettered(string topic, int partition, long offset, int attempts, string error);

    [LoggerMessage(LogLevel.Error, "Could not write to {Topic} (attempt {Attempt}); retrying")]
    private partial void LogDeadLetterFailed(Exception ex, string topic, int attempt);
}
