namespace OrderFlow.Persistence;

/// <summary>An event a module has applied; the primary key makes a second application impossible.</summary>
public sealed class InboxMessage
{
    public required string EventId { get; init; }
    public required string EventType { get; init; }
    public required string OrderId { get; init; }
    public required string Topic { get; init; }
    public int Partition { get; init; }
    public long Offset { get; init; }
    public DateTime ProcessedAt { get; init; }
}

/// <summary>An event a module has decided to publish, committed with the state change that caused it.</summary>
public sealed class OutboxMessage
{
    public long Id { get; init; }
    public required string EventId { get; init; }
    public required string EventType { get; init; }
    public int EventVersion { get; init; }
    public required string Topic { get; init; }
    public required string Key { get; init; }
    public required byte[] Payload { get; init; }
    public string? TraceParent { get; init; }
    public DateTime CreatedAt { get; init; }
}
