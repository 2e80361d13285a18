using OrderFlow.Messaging;
using OrderFlow.Persistence;

namespace OrderFlow.Tests.Persistence;

/// <summary>
/// The write turn's gate: one holder at a time, handed on in arrival order, and handed on at once —
/// the next writer runs inside the release, on the releasing thread, instead of waiting in the
/// thread pool's queue while the turn lies idle (docs/benchmarks.md, twenty-first session). A
/// cancelled waiter is skipped.
/// </summary>
[TestFixture]
public sealed class WriteGateTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Test]
    public void WaitAsync_OnAFreeGate_CompletesAtOnceAndTheNextWaiterQueues()
    {
        var gate = new WriteGate.Gate();

        var first = gate.WaitAsync(CancellationToken.None);
        var second = gate.WaitAsync(CancellationToken.None);

        Assert.Multiple(() =>
        {
            Assert.That(first.IsCompletedSuccessfully, Is.True);
            Assert.That(first.Result, Is.Zero, "a free turn has no hand-over time");
            Assert.That(second.IsCompleted, Is.False);
        });
    }

    [Test]
    public async Task Release_RunsTheNextWriterOnTheReleasingThreadBeforeItReturns()
    {
        var gate = new WriteGate.Gate();
        await gate.WaitAsync(CancellationToken.None);
        var releasing = false;

        async Task<(bool DuringRelease, int Thread)> Writer()
        {
            await gate.WaitAsync(CancellationToken.None).ConfigureAwait(false);
            return (Volatile.Read(ref releasing), Environment.CurrentManagedThreadId);
        }

        var writer = Writer();
        Assert.That(writer.IsCompleted, Is.False, "the writer waits while the turn is held");
        var releasingThread = Environment.CurrentManagedThreadId;
        Volatile.Write(ref releasing, true);
        gate.Release();
        Volatile.Write(ref releasing, false);

        Assert.That(writer.IsCompleted, Is.True, "the writer ran to its end inside Release");
        var (duringRelease, thread) = await writer;
        Assert.Multiple(() =>
        {
            Assert.That(duringRelease, Is.True);
            Assert.That(thread, Is.EqualTo(releasingThread));
        });
    }

    [Test]
    public async Task AHandedOverTurn_RunsOnTheReleasingThread_ThenTheWriterGoesOnOnItsOwn()
    {
        var gate = new WriteGate.Gate();
        await gate.WaitAsync(CancellationToken.None);
        int own = 0, during = 0, after = 0;

        // As a consumer's batch: the attempt waits for its turn without its thread's context and
        // writes; the loop that awaited the attempt goes on.
        async Task Attempt(DedicatedThread home)
        {
            await gate.WaitAsync(CancellationToken.None).ConfigureAwait(false);
            during = Environment.CurrentManagedThreadId;
            await new WriteTurn(gate, home).DisposeAsync();
        }

        var writer = DedicatedThread.Run("of-w:gate", async () =>
        {
            own = Environment.CurrentManagedThreadId;
            await Attempt((DedicatedThread)SynchronizationContext.Current!);
            after = Environment.CurrentManagedThreadId;
        });
        Assert.That(SpinWait.SpinUntil(() => gate.Queued == 1, Patience), Is.True, "the writer queued");
        // Queued, and a moment later suspended in its await: a release in between would find no
        // continuation to run and the writer would go on on its own thread (correct, but not
        // what this test looks at).
        Thread.Sleep(100);
        var releasing = Environment.CurrentManagedThreadId;
        gate.Release();
        await writer.WaitAsync(Patience);

        Assert.Multiple(() =>
        {
            Assert.That(during, Is.EqualTo(releasing), "the turn ran on the releasing thread");
            Assert.That(after, Is.EqualTo(own), "after its attempt the writer's loop is back on its own thread");
            Assert.That(own, Is.Not.EqualTo(releasing));
        });
        Assert.That(gate.WaitAsync(CancellationToken.None).IsCompletedSuccessfully, Is.True, "the writer's dispose freed the turn");
    }

    [Test]
    public async Task Release_OnAThreadWithAContext_StillRunsTheNextWriterThere()
    {
        // .NET does not inline a continuation where a synchronization context is set, and a
        // consumer worker's thread has one: the release must set it aside while it hands over.
        var gate = new WriteGate.Gate();
        await gate.WaitAsync(CancellationToken.None);
        var releasing = 0;

        async Task<int> Writer()
        {
            await gate.WaitAsync(CancellationToken.None).ConfigureAwait(false);
            return Environment.CurrentManagedThreadId;
        }

        var writer = Writer();
        await DedicatedThread.Run("of-w:releaser", () =>
        {
            releasing = Environment.CurrentManagedThreadId;
            gate.Release();
            return Task.CompletedTask;
        }).WaitAsync(Patience);

        Assert.That(await writer.WaitAsync(Patience), Is.EqualTo(releasing));
    }

    [Test]
    public async Task Release_HandsTheTurnOnInArrivalOrder_ThenFreesIt()
    {
        var gate = new WriteGate.Gate();
        await gate.WaitAsync(CancellationToken.None);
        var order = new List<int>();
        var writers = Enumerable.Range(1, 5).Select(async i =>
        {
            var grantedAt = await gate.WaitAsync(CancellationToken.None).ConfigureAwait(false);
            Assert.That(grantedAt, Is.Not.Zero, "a queued writer is told when the turn was handed to it");
            order.Add(i);
        }).ToList();

        for (var i = 0; i < writers.Count; i++) gate.Release();

        await Task.WhenAll(writers).WaitAsync(Patience);
        Assert.That(order, Is.EqualTo(new[] { 1, 2, 3, 4, 5 }));
        gate.Release();
        Assert.That(gate.WaitAsync(CancellationToken.None).IsCompletedSuccessfully, Is.True, "the last release freed the turn");
    }

    [Test]
    public async Task ACancelledWaiter_IsSkipped_AndTheOneBehindItGetsTheTurn()
    {
        var gate = new WriteGate.Gate();
        await gate.WaitAsync(CancellationToken.None);
        using var cancel = new CancellationTokenSource();
        var cancelled = gate.WaitAsync(cancel.Token);
        var behind = gate.WaitAsync(CancellationToken.None);

        await cancel.CancelAsync();
        Assert.That(async () => await cancelled.WaitAsync(Patience), Throws.InstanceOf<OperationCanceledException>());
        Assert.That(behind.IsCompleted, Is.False, "cancelling a waiter hands nothing on");

        gate.Release();
        Assert.That(behind.IsCompletedSuccessfully, Is.True);
        Assert.That(gate.WaitAsync(CancellationToken.None).IsCompleted, Is.False, "the turn is the second waiter's, not free");
    }

    [Test]
    public void WaitAsync_WithACancelledToken_NeitherWaitsNorTakesTheTurn()
    {
        var gate = new WriteGate.Gate();

        var waited = gate.WaitAsync(new CancellationToken(canceled: true));

        Assert.Multiple(() =>
        {
            Assert.That(waited.IsCanceled, Is.True);
            Assert.That(gate.WaitAsync(CancellationToken.None).IsCompletedSuccessfully, Is.True);
        });
    }

    [Test]
    public void Release_OfAFreeGate_Throws()
    {
        var gate = new WriteGate.Gate();

        Assert.That(gate.Release, Throws.InvalidOperationException.With.Message.Contains("released twice"));
    }

    [Test]
    public async Task ManyWritersOnThePool_NeverHoldTheTurnTogether()
    {
        var gate = new WriteGate.Gate();
        var inside = 0;
        var most = 0;
        var turns = 0;
        var writers = Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            for (var i = 0; i < 200; i++)
            {
                await gate.WaitAsync(CancellationToken.None);
                var now = Interlocked.Increment(ref inside);
                InterlockedMax(ref most, now);
                // Some turns give their thread up inside the turn, as a writer's awaits may.
                if (i % 7 == 0) await Task.Yield();
                turns++;
                Interlocked.Decrement(ref inside);
                gate.Release();
            }
        })).ToList();

        await Task.WhenAll(writers).WaitAsync(Patience);

        Assert.Multiple(() =>
        {
            Assert.That(most, Is.EqualTo(1));
            Assert.That(turns, Is.EqualTo(8 * 200), "an unguarded increment loses counts when two writers overlap");
        });
    }

    private static void InterlockedMax(ref int target, int value)
    {
        var seen = Volatile.Read(ref target);
        while (value > seen)
        {
            var before = Interlocked.CompareExchange(ref target, value, seen);
            if (before == seen) return;
            seen = before;
        }
    }
}
