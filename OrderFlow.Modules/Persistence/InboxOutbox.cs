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

/// <summary>
/// An outbox row as the relay sends it: the text columns as the UTF-8 bytes SQLite stores, so the
/// key and the headers go to the producer without a string in between (the relay's read was 12 %
/// of all allocations, docs/benchmarks.md).
/// </summary>
public sealed class PendingOutboxRow
{
    /// <summary>The row's id; set once the row is inserted when it is handed to the relay (<see cref="InboxOutboxWriter.PreparedInserts"/>).</summary>
    public long Id { get; internal set; }
    public required string Topic { get; init; }
    public required byte[] Key { get; init; }
    public required byte[] Payload { get; init; }
    public required byte[] EventType { get; init; }
    public int EventVersion { get; init; }
    public required byte[] EventId { get; init; }
    public byte[]? TraceParent { get; init; }
}

/// <summary>
/// The single row of a module's <c>&lt;prefix&gt;_state</c> table: a counter that every write
/// transaction changing the module's rows raises before it commits (<see cref="WriteTransaction"/>).
/// A consumer reads it before it loads a batch's rows outside its write turn; the same value
/// inside the turn proves that nothing it loaded has changed since (<see cref="ModuleVersion"/>).
/// </summary>
public sealed class ModuleState
{
    public const int RowId = 1;

    public int Id { get; init; }
    public long Version { get; init; }
}
