namespace OrderFlow.Messaging;

/// <summary>
/// When a consumer's worker waits for a fuller batch (<see cref="MessagingOptions.BatchLingerMs"/>):
/// only while messages keep coming in numbers — its previous batch held at least a quarter of
/// <see cref="MessagingOptions.MinBatchSize"/> — and fewer than that are queued now. Each batch is
/// one write turn and one transaction, with work that does not shrink with the batch (the turn's
/// hand-over, the version check, the commit's whole pages, a relay pass and a fetch downstream);
/// at moderate rates the batches were small and that work came to ~1.4× the CPU per order of a
/// full-speed run. A trickle is not held back: at 100 orders/s, where a batch is a few messages,
/// the latency did not change (docs/benchmarks.md, twenty-fourth session). A worker stopped while
/// it lingers takes no batch: what was queued is read again after the restart, as any message not
/// yet applied. Off with <see cref="MessagingOptions.BatchLingerMs"/> 0 or with batching off.
/// </summary>
internal readonly record struct BatchLinger(TimeSpan Wait, int MinBatch)
{
    // A batch never holds more than MaxBatchSize: waiting for more than that would always wait.
    public static BatchLinger From(MessagingOptions options) =>
        new(options.Batching ? TimeSpan.FromMilliseconds(options.BatchLingerMs) : TimeSpan.Zero, Math.Min(options.MinBatchSize, options.MaxBatchSize));

    /// <summary>The smallest previous batch that shows messages coming in numbers.</summary>
    public int Busy => Math.Max(1, MinBatch / 4);

    /// <summary>Whether to wait <see cref="Wait"/> before taking a batch, after a batch of <paramref name="previousBatch"/> messages, with <paramref name="queued"/> waiting.</summary>
    public bool ShouldWait(int previousBatch, int queued) =>
        Wait > TimeSpan.Zero && previousBatch >= Busy && queued < MinBatch;
}
