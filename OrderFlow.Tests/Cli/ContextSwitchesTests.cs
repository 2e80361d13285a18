using OrderFlow.Host.Cli;

namespace OrderFlow.Tests.Cli;

/// <summary>The context switches per order of <c>generate --report</c> (docs/benchmarks.md, twenty-fourth session).</summary>
[TestFixture]
public sealed class ContextSwitchesTests
{
    [Test]
    public void Read_CountsEachTimeAThreadBlocks_AlsoForThreadsThatHaveEnded()
    {
        if (!OperatingSystem.IsLinux()) Assert.Ignore("getrusage's context switches are read on Linux only");
        var before = ContextSwitches.Read()!.Value;

        // Each sleep gives up the core: one voluntary switch at least, on a thread that then ends.
        var sleeper = new Thread(() =>
        {
            for (var i = 0; i < 50; i++) Thread.Sleep(1);
        });
        sleeper.Start();
        sleeper.Join();

        var counted = ContextSwitches.Read()!.Value - before;
        // Voluntary, not involuntary: a thread that sleeps gives its core up itself.
        Assert.That(counted.Voluntary, Is.GreaterThanOrEqualTo(50), "the ended thread's sleeps are still counted, as voluntary switches");
    }
}
