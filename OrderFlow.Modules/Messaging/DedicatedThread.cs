namespace OrderFlow.Messaging;

/// <summary>
/// Runs an asynchronous loop on a thread of its own: the loop's awaits resume on that thread
/// (a single-threaded <see cref="SynchronizationContext"/>), not on the thread pool.
/// <para>
/// Why: on the thread pool every resumption of a consumer's worker — after its write turn, after
/// its queue had a message again — waited in the pool's one queue behind everything else queued
/// there (other modules' batches, relays, the load generator), and at full speed on two cores
/// those waits were a third of a worker's time and the next write turn lay idle during them
/// (docs/benchmarks.md, twenty-first session). A thread of its own is woken by the operating
/// system, which shares the cores between runnable threads rather than running queued work items
/// one after the other.
/// </para>
/// Library code that awaits with <c>ConfigureAwait(false)</c> resumes on the pool as before;
/// SQLite's asynchronous methods complete synchronously, so the loop's work stays on its thread.
/// </summary>
internal sealed class DedicatedThread : SynchronizationContext
{
    /// <summary>How the names of the consumers' worker threads begin, followed by the module (the bench groups threads by name).</summary>
    public const string ConsumerWorkerPrefix = "of-w:";

    private readonly Queue<(SendOrPostCallback Callback, object? State)> work = new();
    private bool ended;

    private DedicatedThread()
    {
    }

    /// <summary>Starts <paramref name="loop"/> on a new background thread named <paramref name="name"/>; the task ends as the loop's does.</summary>
    public static Task Run(string name, Func<Task> loop)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            var context = new DedicatedThread();
            SetSynchronizationContext(context);
            Task task;
            try
            {
                task = loop();
            }
            catch (Exception ex)
            {
                task = Task.FromException(ex);
            }
            context.PumpUntil(task);
            if (task.IsFaulted) done.SetException(task.Exception!.InnerExceptions);
            else if (task.IsCanceled) done.SetCanceled();
            else done.SetResult();
        })
        {
            IsBackground = true,
            Name = name,
        };
        thread.Start();
        return done.Task;
    }

    public override void Post(SendOrPostCallback d, object? state)
    {
        lock (work)
        {
            if (!ended)
            {
                work.Enqueue((d, state));
                Monitor.Pulse(work);
                return;
            }
        }
        // The loop has ended and its thread with it: whatever still resumes here runs on the pool.
        ThreadPool.UnsafeQueueUserWorkItem(static s => s.d(s.state), (d, state), preferLocal: false);
    }

    public override void Send(SendOrPostCallback d, object? state) =>
        throw new NotSupportedException("a dedicated thread's context takes posted work only");

    public override SynchronizationContext CreateCopy() => this;

    // Runs what is posted until the loop's task has ended and nothing is left.
    private void PumpUntil(Task task)
    {
        task.ContinueWith(static (_, state) => ((DedicatedThread)state!).End(), this,
            CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        while (true)
        {
            (SendOrPostCallback Callback, object? State) next;
            lock (work)
            {
                while (work.Count == 0 && !ended) Monitor.Wait(work);
                if (work.Count == 0) return;
                next = work.Dequeue();
            }
            next.Callback(next.State);
        }
    }

    private void End()
    {
        lock (work)
        {
            ended = true;
            Monitor.Pulse(work);
        }
    }
}
