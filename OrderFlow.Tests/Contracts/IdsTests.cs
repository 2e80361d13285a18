using OrderFlow.Contracts;

namespace OrderFlow.Tests.Contracts;

[TestFixture]
public sealed class IdsTests
{
    [Test]
    public void NewVersion7_IsLaidOutAsGuidCreateVersion7()
    {
        var at = new DateTimeOffset(2026, 11, 25, 17, 30, 0, 123, TimeSpan.Zero);
        var ours = Ids.NewVersion7(at);
        var theirs = Guid.CreateVersion7(at);

        Assert.Multiple(() =>
        {
            Assert.That(ours.Version, Is.EqualTo(7));
            Assert.That(ours.Variant & 0xC, Is.EqualTo(0x8), "variant 10xx");
            // The first 48 bits are the timestamp, as Guid.CreateVersion7 writes it.
            Assert.That(ours.ToString("N")[..12], Is.EqualTo(theirs.ToString("N")[..12]));
            Assert.That(ours.ToString("N")[..12], Is.EqualTo(at.ToUnixTimeMilliseconds().ToString("x12")));
        });
    }

    [Test]
    public void NewVersion7_ManyInARow_AreDistinctAndOrderedByTheirMillisecond()
    {
        // More than one 4 KiB buffer of random bytes, on two threads.
        var ids = new System.Collections.Concurrent.ConcurrentBag<Guid>();
        Parallel.For(0, 2, _ =>
        {
            for (var i = 0; i < 2_000; i++) ids.Add(Ids.NewVersion7());
        });
        var earlier = Ids.NewVersion7(DateTimeOffset.UtcNow.AddSeconds(-1));
        var later = Ids.NewVersion7(DateTimeOffset.UtcNow.AddSeconds(1));

        Assert.Multiple(() =>
        {
            Assert.That(ids.Distinct().Count(), Is.EqualTo(4_000));
            Assert.That(ids.Select(id => id.ToString("N")[12..]).Distinct().Count(), Is.EqualTo(4_000), "the random parts differ too");
            Assert.That(string.CompareOrdinal(earlier.ToString("N"), later.ToString("N")), Is.LessThan(0));
        });
    }
}
