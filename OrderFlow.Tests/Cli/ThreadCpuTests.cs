using OrderFlow.Host.Cli;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.Cli;

/// <summary>The CPU-by-thread breakdown of <c>generate --report</c> (docs/benchmarks.md).</summary>
[TestFixture]
public sealed class ThreadCpuTests
{
    [Test]
    public void Parse_WhenTheNameHoldsSpacesAndParentheses_CountsTheFieldsFromTheLastParenthesis()
    {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
        const string stat = "4242 (.NET TP (x) 1) S 1 4242 4242 0 -1 4194368 100 0 0 0 1234 567 0 0 20 0 60 0 9999 0 0";

        Assert.That(ThreadCpu.Parse(stat), Is.EqualTo((".NET TP (x) 1", 1234L + 567)));
        Assert.That(ThreadCpu.Parse("4242 (cut short) S 1 2"), Is.Null);
    }

    [TestCase(".NET TP Worker", "thread pool (outbox relays, generator, HTTP)")]
    [TestCase("of-w:payment", "consumer workers (handlers, SQLite, EF Core)")]
    [TestCase("of-w:notificati", "consumer workers (handlers, SQLite, EF Core)")]
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
    public void Between_WhenAThreadEnded_CountsItAsEndedThreadsSoTheGroupsAddUpToTheProcess()
    {
        var before = new Dictionary<int, (string, long)> { [1] = ("garbage collector", 100), [2] = ("JIT (tiered compilation)", 50), [4] = ("other", 900) };
        var after = new Dictionary<int, (string, long)> { [1] = ("garbage collector", 300), [3] = ("JIT (tiered compilation)", 100), [4] = ("other", 40) };

        var groups = ThreadCpu.Between(before, after, processSeconds: 6.4);

        Assert.Multiple(() =>
        {
            Assert.That(groups.Select(g => g.Name), Is.EqualTo(new[] { "ended threads and rounding", "garbage collector", "JIT (tiered compilation)", "other" }));
            Assert.That(groups.Select(g => g.Seconds), Is.EqualTo(new[] { 3.0, 2.0, 1.0, 0.4 }),
                "thread 1: 200 ticks; thread 3, new: all of its 100; thread 4, an id given again: all of its 40");
            Assert.That(groups.Sum(g => g.Share), Is.EqualTo(1.0).Within(0.005), "shares are rounded to three places");
        });
    }

    [Test]
    public async Task Snapshot_WhenAThreadBurnsCpu_ShowsItInItsGroup()
    {
        if (!OperatingSystem.IsLinux()) Assert.Ignore("reads /proc/self/task, which only Linux has");
        var before = ThreadCpu.Snapshot();
        using var stop = new ManualResetEventSlim();
        // .NET names the native thread after Thread.Name (the first 15 bytes): this one reads as the broker's.
        var burner = new Thread(() =>
        {
            while (!stop.IsSet) Thread.SpinWait(1_000);
        }) { Name = "rdk:mock" };
        burner.Start();
        try
        {
            await Eventually.Until(() => BrokerSeconds(ThreadCpu.Between(before, ThreadCpu.Snapshot(), 0)) >= 0.1,
                "the spinning thread's CPU to show in the embedded broker's group");
        }
        finally
        {
            stop.Set();
            burner.Join();
        }

        static double BrokerSeconds(IReadOnlyList<ThreadCpu.Group> groups) =>
            groups.SingleOrDefault(g => g.Name == "embedded broker (librdkafka mock)")?.Seconds ?? 0;
    }
}
