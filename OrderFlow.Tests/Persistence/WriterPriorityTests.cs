using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using OrderFlow.Persistence;

namespace OrderFlow.Tests.Persistence;

/// <summary>
/// The write turn's holder runs ahead of the process's other threads (<see cref="WriterPriority"/>)
/// and is put back when its turn ends — also when another writer's turn ran on its thread, or
/// the turn ended on another thread. Where the raise is not permitted (no CAP_SYS_NICE or
/// RLIMIT_NICE) the tests that need it are ignored with the reason.
/// </summary>
[TestFixture]
public sealed class WriterPriorityTests
{
    [SetUp]
    [TearDown]
    public void Off()
    {
        while (WriterPriority.Enabled) WriterPriority.Disable();
    }

    [Test]
    public void ATurn_RaisesItsThread_AndPutsItBackWhenItEnds()
    {
        var (holder, others) = Enable();
        var gate = new WriteGate.Gate();

        var (during, after) = OnAThreadOfItsOwn(() =>
        {
            gate.WaitAsync(CancellationToken.None).GetAwaiter().GetResult();
            var turn = new WriteTurn(gate, null);
            var during = NiceOfThisThread();
            turn.Dispose();
            return (during, NiceOfThisThread());
        });

        Assert.Multiple(() =>
        {
            Assert.That(holder, Is.LessThan(others));
            Assert.That(during, Is.EqualTo(holder), "the holder runs raised");
            Assert.That(after, Is.EqualTo(others), "and goes back to the process's value");
        });
    }

    [Test]
    public void ATurnHandedOverOnTheReleasingThread_IsRaisedThere_AndTheThreadEndsAtTheProcessValue()
    {
        var (holder, others) = Enable();
        var gate = new WriteGate.Gate();

        var (releaser, next, after) = OnAThreadOfItsOwn(() =>
        {
            gate.WaitAsync(CancellationToken.None).GetAwaiter().GetResult();
            var first = new WriteTurn(gate, null);
            var next = gate.WaitAsync(CancellationToken.None).ContinueWith(_ =>
            {
                // Runs inside the first turn's release, on its thread (WriteGate.Gate).
                using var second = new WriteTurn(gate, null);
                return (Thread: WriterPriority.CurrentThreadId(), Nice: NiceOfThisThread());
            }, TaskContinuationOptions.ExecuteSynchronously);
            first.Dispose();
            return (WriterPriority.CurrentThreadId(), next.Result, NiceOfThisThread());
        });

        Assert.Multiple(() =>
        {
            Assert.That(next.Thread, Is.EqualTo(releaser), "the next writer ran on the releasing thread");
            Assert.That(next.Nice, Is.EqualTo(holder), "raised again for its own turn");
            Assert.That(after, Is.EqualTo(others));
        });
    }

    [Test]
    public void ATurnEndedOnAnotherThread_PutsTheThreadItRaisedBack()
    {
        var (holder, others) = Enable();
        var gate = new WriteGate.Gate();
        using var started = new ManualResetEventSlim();
        using var ended = new ManualResetEventSlim();
        WriteTurn? turn = null;
        var raisedThread = 0;
        int? during = null, after = null;
        var holderThread = new Thread(() =>
        {
            gate.WaitAsync(CancellationToken.None).GetAwaiter().GetResult();
            turn = new WriteTurn(gate, null);
            raisedThread = WriterPriority.CurrentThreadId();
            during = NiceOfThisThread();
            started.Set();
            ended.Wait();
            after = NiceOfThisThread();
        });
        holderThread.Start();
        Assert.That(started.Wait(TimeSpan.FromSeconds(10)), Is.True);

        turn!.Dispose();   // on the test's thread
        ended.Set();
        holderThread.Join();

        Assert.Multiple(() =>
        {
            Assert.That(raisedThread, Is.Not.EqualTo(WriterPriority.CurrentThreadId()));
            Assert.That(during, Is.EqualTo(holder));
            Assert.That(after, Is.EqualTo(others));
        });
    }

    [Test]
    public void Disabled_TheHolderKeepsTheProcessValue()
    {
        var (_, others) = Enable();
        WriterPriority.Disable();
        var gate = new WriteGate.Gate();

        var during = OnAThreadOfItsOwn(() =>
        {
            gate.WaitAsync(CancellationToken.None).GetAwaiter().GetResult();
            using var turn = new WriteTurn(gate, null);
            return NiceOfThisThread();
        });

        Assert.That(during, Is.EqualTo(others));
    }

    [Test]
    public async Task TheStarter_TurnsItOnOnlyWhenTheSettingAsks_AndOffWhenTheHostStops()
    {
        var off = new WriterPriority.Starter(Options.Create(new StoreOptions { RaiseWriterPriority = false }), NullLogger<WriterPriority.Starter>.Instance);
        await off.StartAsync(CancellationToken.None);
        Assert.That(WriterPriority.Enabled, Is.False, "RaiseWriterPriority=false");

        var on = new WriterPriority.Starter(Options.Create(new StoreOptions()), NullLogger<WriterPriority.Starter>.Instance);
        await on.StartAsync(CancellationToken.None);
        if (!WriterPriority.Enabled) Assert.Ignore("raising a thread's priority is not permitted here: " + WriterPriority.TryEnable());
        await on.StopAsync(CancellationToken.None);
        Assert.That(WriterPriority.Enabled, Is.False, "off again when the host stops");
    }

    [Test]
    public async Task TwoHostsInOneProcess_KeepItOnUntilTheLastOneStops()
    {
        var first = new WriterPriority.Starter(Options.Create(new StoreOptions()), NullLogger<WriterPriority.Starter>.Instance);
        var second = new WriterPriority.Starter(Options.Create(new StoreOptions()), NullLogger<WriterPriority.Starter>.Instance);
        await first.StartAsync(CancellationToken.None);
        if (!WriterPriority.Enabled) Assert.Ignore("raising a thread's priority is not permitted here: " + WriterPriority.TryEnable());
        await second.StartAsync(CancellationToken.None);

        await first.StopAsync(CancellationToken.None);
        var afterFirst = WriterPriority.Enabled;
        await second.StopAsync(CancellationToken.None);

        Assert.Multiple(() =>
        {
            Assert.That(afterFirst, Is.True, "on while the second host runs");
            Assert.That(WriterPriority.Enabled, Is.False, "off when the last one stops");
        });
    }

    private static (int Holder, int Others) Enable()
    {
        if (WriterPriority.TryEnable() is { } reason) Assert.Ignore("raising a thread's priority is not permitted here: " + reason);
        return WriterPriority.NiceValues;
    }

    private static int NiceOfThisThread() => WriterPriority.NiceOf(WriterPriority.CurrentThreadId()) ?? throw new InvalidOperationException("getpriority failed");

    // A thread made for the test, so a thread of the runner's is never left raised by a failure.
    private static T OnAThreadOfItsOwn<T>(Func<T> body)
    {
        T result = default!;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try { result = body(); }
            catch (Exception ex) { failure = ex; }
        });
        thread.Start();
        Assert.That(thread.Join(TimeSpan.FromSeconds(10)), Is.True, "the thread ended");
        if (failure is not null) throw new AssertionException("the thread failed: " + failure);
        return result;
    }
}
