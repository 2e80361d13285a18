using System.Text;
using Confluent.Kafka;

namespace OrderFlow.Messaging;

/// <summary>Kafka header names used on every event and on dead letters.</summary>
public static class HeaderNames
{
    public const string EventType = "event_type";
    public const string EventVersion = "event_version";
    public const string EventId = "event_id";
    public const string TraceParent = "traceparent";

    public const string DlqSourceTopic = "dlq_source_topic";
    public const string DlqSourcePartition = "dlq_source_partition";
    public const string DlqSourceOffset = "dlq_source_offset";
    public const string DlqError = "dlq_error";
    public const string DlqAttempts = "dlq_attempts";
    public const string DlqConsumerGroup = "dlq_consumer_group";
    public const string DlqFailedAt = "dlq_failed_at";

    public static string? GetString(this Headers? headers, string name) =>
        headers.GetBytes(name) is { } bytes ? Encoding.UTF8.GetString(bytes) : null;

    /// <summary>The last header <paramref name="name"/>'s value as it came (not copied), or null.</summary>
    public static byte[]? GetBytes(this Headers? headers, string name)
    {
        if (headers is null) return null;
        for (var i = headers.Count - 1; i >= 0; i--)
        {
            var header = headers[i];
            if (header.Key == name) return header.GetValueBytes();
        }
        return null;
    }

    public static void Set(this Headers headers, string name, string value)
    {
        headers.Remove(name);
        headers.Add(name, Encoding.UTF8.GetBytes(value));
    }
}
