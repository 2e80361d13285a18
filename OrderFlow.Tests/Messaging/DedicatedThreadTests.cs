using OrderFlow.Messaging;

namespace OrderFlow.Tests.Messaging;

/// <summary>
/// A consumer's worker loop runs on a thread of its own: every await of the loop resumes there,
/// never on the thread pool, and the loop's end, failure or cancellation is the returned task's.
/// </summary>
[TestFixture]
public sealed class DedicatedThreadTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Test]
    public async Task Run_ResumesEveryAwaitOfTheLoopOnItsOwnNamedThread()
    {
        var seen = new List<(int Id, string? Name, bool Pool)>();
        void Note() => seen.Add((Environment.CurrentManagedThreadId, Thread.CurrentThread.Name, Thread.CurrentThread.IsThreadPoolThread));
        var signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var loop = DedicatedThread.Run("of-w:test", async () =>
        {
            Note();
            await Task.Yield();
            Note();
            await Task.Delay(5);
            Note();
            // Completed from a pool thread: the continuation still comes back here.
            _ = Task.Run(signal.SetResult);
            await signal.Task;
            Note();
        });
        await loop.WaitAsync(Patience);

        Assert.Multiple(() =>
        {
            Assert.That(seen, Has.Count.EqualTo(4));
            Assert.That(seen.Select(s => s.Id).Distinct().Count(), Is.EqualTo(1), "one thread ran the whole loop");
            Assert.That(seen[0].Name, Is.EqualTo("of-w:test"));
            Assert.That(seen.Any(s => s.Pool), Is.False, "no part of the loop ran on the thread pool");
        });
    }

    [Test]
    public void Run_WhenTheLoopFails_FaultsTheTaskWithTheLoopsException()
    {
        var loop = DedicatedThread.Run("of-w:fails", async () =>
        {
            await Task.Yield();
            throw new InvalidOperationException("the loop broke");
        });

        Assert.That(async () => await loop.WaitAsync(Patience), Throws.InvalidOperationException.With.Message.EqualTo("the loop broke"));
    }

    [Test]
    public void Run_WhenTheLoopThrowsBeforeItsFirstAwait_FaultsTheTaskToo()
    {
        var loop = DedicatedThread.Run("of-w:fails", () => throw new InvalidOperationException("at once"));

        Assert.That(async () => await loop.WaitAsync(Patience), Throws.InvalidOperationException.With.Message.EqualTo("at once"));
    }

    [Test]
    public void Run_WhenTheLoopIsCancelled_CancelsTheTask()
    {
        using var cancel = new CancellationTokenSource();
        var loop = DedicatedThread.Run("of-w:cancel", async () => await Task.Delay(Timeout.Infinite, cancel.Token));

        cancel.Cancel();

        Assert.That(async () => await loop.WaitAsync(Patience), Throws.InstanceOf<OperationCanceledException>());
        Assert.That(loop.IsCanceled, Is.True);
    }

    [Test]
    public async Task Post_AfterTheLoopEnded_RunsOnThePool()
    {
        SynchronizationContext? context = null;
        await DedicatedThread.Run("of-w:ended", () =>
        {
            context = SynchronizationContext.Current;
            return Task.CompletedTask;
        }).WaitAsync(Patience);
        var ran = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);

        Assert.That(context, Is.InstanceOf<DedicatedThread>());
        context!.Post(_ => ran.SetResult(Thread.CurrentThread.IsThreadPoolThread), null);

        Assert.That(await ran.Task.WaitAsync(Patience), Is.True);
    }
}
