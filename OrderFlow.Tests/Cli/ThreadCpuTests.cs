using OrderFlow.Host.Cli;

namespace OrderFlow.Tests.Cli;

/// <summary>The CPU-by-thread breakdown of <c>generate --report</c> (docs/benchmarks.md).</summary>
[TestFixture]
public sealed class ThreadCpuTests
{
    [Test]
    public void ParseTicks_ANameWithSpacesAndParentheses_CountsTheFieldsFromTheLastParenthesis()
    {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
        const string stat = "4242 (.NET TP (x) 1) S 1 4242 4242 0 -1 4194368 100 0 0 0 1234 567 0 0 20 0 60 0 9999 0 0";

        Assert.That(ThreadCpu.ParseTicks(stat), Is.EqualTo(1234 + 567));
        Assert.That(ThreadCpu.ParseTicks("4242 (cut short) S 1 2"), Is.Null);
    }

    [TestCase(".NET TP Worker", "thread pool (consumer workers, relays, generator)")]
    [TestCase(".NET Long Runni", "consumer poll loops (Consume, payload filter)")]
    [TestCase(".NET Server GC", "garbage collector")]
    [TestCase(".NET BGC", "garbage collector")]
    [TestCase(".NET Tiered Com", "JIT (tiered compilation)")]
    [TestCase("rdk:mock", "embedded broker (librdkafka mock)")]
    [TestCase("rdk:broker1", "librdkafka client threads")]
    [TestCase("rdk:main", "librdkafka client threads")]
    [TestCase("OrderFlow.Host", "other")]
    public void GroupOf_TheNamesTheRuntimeAndLibrdkafkaGive_NamesWhatTheThreadDoes(string name, string group) =>
        Assert.That(ThreadCpu.GroupOf(name), Is.EqualTo(group));

    [Test]
    public void Between_AThreadThatEnded_IsCountedAsEndedThreadsSoTheGroupsAddUpToTheProcess()
    {
        var before = new Dictionary<int, (string, long)> { [1] = ("garbage collector", 100), [2] = ("JIT (tiered compilation)", 50) };
        var after = new Dictionary<int, (string, long)> { [1] = ("garbage collector", 300), [3] = ("JIT (tiered compilation)", 100) };

        var groups = ThreadCpu.Between(before, after, processSeconds: 6.0);

        Assert.Multiple(() =>
        {
            Assert.That(groups.Select(g => g.Name), Is.EqualTo(new[] { "ended threads and rounding", "garbage collector", "JIT (tiered compilation)" }));
            Assert.That(groups.Select(g => g.Seconds), Is.EqualTo(new[] { 3.0, 2.0, 1.0 }), "thread 1: 200 ticks; thread 3, new: all of its 100");
            Assert.That(groups.Sum(g => g.Share), Is.EqualTo(1.0).Within(0.001));
        });
    }

    [Test]
    public void Snapshot_AThreadThatBurnsCpu_ShowsInItsGroup()
    {
        if (!OperatingSystem.IsLinux()) Assert.Ignore("reads /proc/self/task, which only Linux has");
        var before = ThreadCpu.Snapshot();
        var started = System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime;
        // .NET names the native thread after Thread.Name (the first 15 bytes): this one reads as the broker's.
        var burner = new Thread(() =>
        {
            var until = System.Diagnostics.Stopwatch.StartNew();
            while (until.ElapsedMilliseconds < 400) Thread.SpinWait(1_000);
        }) { Name = "rdk:mock" };
        burner.Start();
        Thread.Sleep(300);
        var during = ThreadCpu.Snapshot();
        burner.Join();

        var groups = ThreadCpu.Between(before, during, (System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime - started).TotalSeconds);

        Assert.That(groups.Single(g => g.Name == "embedded broker (librdkafka mock)").Seconds, Is.GreaterThanOrEqualTo(0.1),
            string.Join(", ", groups));
    }
}
