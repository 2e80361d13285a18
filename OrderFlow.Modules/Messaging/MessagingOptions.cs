using System.ComponentModel.DataAnnotations;

namespace OrderFlow.Messaging;

/// <summary>Consumer loop and outbox relay tuning (<c>OrderFlow:Messaging</c>).</summary>
public sealed class MessagingOptions
{
    public const string Section = "OrderFlow:Messaging";

    /// <summary>Most messages applied in one SQLite transaction.</summary>
    [Range(1, 10_000)] public int MaxBatchSize { get; set; } = 500;

    /// <summary>
    /// Workers applying one consumer's partitions in parallel; a partition always goes to the same
    /// worker. SQLite has one writer, and each worker's commit makes the module's other batches,
    /// read before their write turn, read again inside it: 2 ran at 0.86× the orders/s of 1 with a
    /// fifth more allocations (docs/benchmarks.md, "Design notes").
    /// </summary>
    [Range(1, 64)] public int Workers { get; set; } = 1;

    /// <summary>
    /// While messages keep coming in numbers — the worker's previous batch held at least a quarter
    /// of <see cref="MinBatchSize"/> — a worker that finds fewer than <see cref="MinBatchSize"/>
    /// queued waits this long for more before it applies them; a trickle is applied at once, and a
    /// full queue is not waited for. The consumer's side of a real broker's <c>fetch.min.bytes</c>,
    /// which the embedded broker does not honour. In alternating runs it took ~10 % of the CPU per
    /// order off at 1,000 orders/s and ~5 % at 2,500/s, with the p99 unchanged within the noise,
    /// and changed nothing at 100/s or at full speed (docs/benchmarks.md, twenty-fourth session).
    /// 0 turns it off.
    /// </summary>
    [Range(0, 1_000)] public int BatchLingerMs { get; set; } = 10;

    /// <summary>
    /// How many queued messages make a batch worth applying without lingering
    /// (<see cref="BatchLingerMs"/>); above <see cref="MaxBatchSize"/> it counts as that.
    /// </summary>
    [Range(1, 10_000)] public int MinBatchSize { get; set; } = 200;

    /// <summary>One transaction per batch (true) or per message (false; for comparison only).</summary>
    public bool Batching { get; set; } = true;

    /// <summary>Attempts at a message that fails transiently before it is dead-lettered.</summary>
    [Range(1, 100)] public int MaxAttempts { get; set; } = 5;

    [Range(1, 60_000)] public int InitialBackoffMs { get; set; } = 100;
    [Range(1, 60_000)] public int MaxBackoffMs { get; set; } = 5_000;

    /// <summary>Messages larger than this are dead-lettered unread.</summary>
    [Range(128, 10_000_000)] public int MaxMessageBytes { get; set; } = 64 * 1024;

    /// <summary>How often the outbox relay looks for rows written by other processes.</summary>
    [Range(1, 60_000)] public int OutboxPollIntervalMs { get; set; } = 100;

    [Range(1, 50_000)] public int OutboxBatchSize { get; set; } = 2_000;

    /// <summary>How often consumer lag (high watermark − committed offset) is measured for this process's consumer groups.</summary>
    [Range(50, 600_000)] public int LagIntervalMs { get; set; } = 1_000;
}
