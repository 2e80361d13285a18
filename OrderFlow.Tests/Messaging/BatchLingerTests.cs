using System.ComponentModel.DataAnnotations;
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
    public void Validate_WhenTheMinimumBatchExceedsTheMaximum_SaysSo()
    {
        var options = new MessagingOptions { MaxBatchSize = 100, MinBatchSize = 200 };
        var results = new List<ValidationResult>();

        var valid = Validator.TryValidateObject(options, new ValidationContext(options), results, validateAllProperties: true);

        Assert.That(valid, Is.False);
        Assert.That(results.Single().ErrorMessage, Does.Contain("MinBatchSize (200) must not be larger than MaxBatchSize (100)"));
        var defaults = new MessagingOptions();
        Assert.That(Validator.TryValidateObject(defaults, new ValidationContext(defaults), [], validateAllProperties: true), Is.True, "the defaults");
    }
}
