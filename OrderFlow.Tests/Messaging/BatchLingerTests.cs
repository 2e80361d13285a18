using OrderFlow.Messaging;

namespace OrderFlow.Tests.Messaging;

/// <summary>When a consumer's worker waits for a fuller batch (MessagingOptions.BatchLingerMs; docs/benchmarks.md, twenty-fourth session).</summary>
[TestFixture]
public sealed class BatchLingerTests
{
    private static readonly BatchLinger Linger = BatchLinger.From(new MessagingOptions { BatchLingerMs = 10, MinBatchSize = 200 });

    [Test]
    public void ShouldWait_WhileMessagesComeInNumbersAndFewAreQueued_Waits()
    {
        Assert.That(Linger.Busy, Is.EqualTo(50), "a quarter of the minimum batch");
        Assert.That(Linger.ShouldWait(previousBatch: 50, queued: 30), Is.True);
        Assert.That(Linger.ShouldWait(previousBatch: 500, queued: 199), Is.True);
        Assert.That(Linger.Wait, Is.EqualTo(TimeSpan.FromMilliseconds(10)));
    }

    [Test]
    public void ShouldWait_ForATrickleOrTheFirstBatch_AppliesAtOnce()
    {
        Assert.That(Linger.ShouldWait(previousBatch: 49, queued: 3), Is.False, "a trickle is not held back");
        Assert.That(Linger.ShouldWait(previousBatch: 0, queued: 150), Is.False, "the first batch of a worker");
    }

    [Test]
    public void ShouldWait_WhenEnoughAreQueued_AppliesAtOnce()
    {
        Assert.That(Linger.ShouldWait(previousBatch: 500, queued: 200), Is.False);
        Assert.That(Linger.ShouldWait(previousBatch: 500, queued: 5_000), Is.False);
    }

    [Test]
    public void ShouldWait_WhenTurnedOffOrWithoutBatches_NeverWaits()
    {
        var off = BatchLinger.From(new MessagingOptions { BatchLingerMs = 0 });
        var unbatched = BatchLinger.From(new MessagingOptions { Batching = false });
        Assert.That(off.ShouldWait(previousBatch: 500, queued: 1), Is.False);
        Assert.That(unbatched.ShouldWait(previousBatch: 500, queued: 1), Is.False, "one transaction per message: nothing to gather");
        Assert.That(BatchLinger.From(new MessagingOptions { MinBatchSize = 2 }).Busy, Is.EqualTo(1), "at least one message");
    }

    [Test]
    public void From_WhenTheMinimumBatchExceedsTheMaximum_WaitsForAFullBatchAtMost()
    {
        // A worker configured for batches of 50 (tests, a cautious deployment) would otherwise wait on every batch.
        var linger = BatchLinger.From(new MessagingOptions { MaxBatchSize = 50, MinBatchSize = 200 });

        Assert.That(linger.MinBatch, Is.EqualTo(50));
        Assert.That(linger.ShouldWait(previousBatch: 50, queued: 50), Is.False, "a full batch is queued");
        Assert.That(linger.ShouldWait(previousBatch: 50, queued: 49), Is.True);
    }
}
