using System.Runtime.InteropServices;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace OrderFlow.Persistence;

/// <summary>
/// Runs the thread that holds the file's write turn (<see cref="WriteTurn"/>) ahead of the
/// process's other threads, so the one serial resource is not stretched while its holder waits
/// for a core: the lock-holder preemption that priority inheritance answers for a kernel mutex.
/// At full speed two cores are shared by the four consumers' workers, their poll loops, the
/// relays, the Kafka clients and the embedded broker; a holder at the same priority as all of them
/// was runnable but not running for ~30 % of the time it held the turn (6.5–9.4 s of 22–29 s in a
/// 100k run; 1.8 s of 17–19 s raised). Raised: 6–14 % more orders/s at full speed in alternating
/// runs, and ~12 % more p99 at 2,500 orders/s, where the threads on the Kafka path wait behind the
/// holder (docs/benchmarks.md, twenty-second session; no difference beyond the noise at 2,500/s
/// in the twenty-third's).
/// <para>
/// Linux only, where a thread's nice value is its own (<c>setpriority(PRIO_PROCESS, tid)</c>):
/// the holder runs at the process's nice value minus 20 (at most −20) and goes back to the
/// process's value when its turn ends. Lowering a nice value needs <c>CAP_SYS_NICE</c> or an
/// <c>RLIMIT_NICE</c> that allows it; without either, <see cref="TryEnable"/> says why and turns keep
/// the process's priority. Process-wide, as the gate is: each host that turns it on turns it off
/// when it stops, and it stays on while any of them runs. The thread raised is the one that starts
/// the turn: a writer that awaits inside its turn and resumes elsewhere leaves that thread raised,
/// on whatever it runs next, until the turn ends (rare: SQLite's asynchronous calls complete
/// synchronously; 1–3 of ~4,000 turns in a 100k run ended on another thread).
/// </para>
/// </summary>
public static partial class WriterPriority
{
    private const int PrioProcess = 0;
    private const int HighestNice = -20;
    private const int Raise = 20;

    // How many callers of TryEnable (the hosts in this process) want it on.
    private static int users;
    private static int processNice;
    private static int holderNice;

    [ThreadStatic] private static int threadId;

    /// <summary>Whether write-turn holders are raised now.</summary>
    public static bool Enabled => Volatile.Read(ref users) > 0;

    /// <summary>The nice value of a write-turn holder and of the other threads, while <see cref="Enabled"/>.</summary>
    public static (int Holder, int Others) NiceValues => (holderNice, processNice);

    /// <summary>
    /// Raises every later write-turn holder when this thread may be raised: tried here, on the
    /// calling thread, and put back at once. Returns null when it is on, else why not. Each call
    /// that returns null is matched by one <see cref="Disable"/>.
    /// </summary>
    public static string? TryEnable()
    {
        if (!OperatingSystem.IsLinux()) return "raising one thread's priority is supported on Linux only";
        var tid = CurrentThreadId();
        if (NiceOf(tid) is not { } current) return $"getpriority failed: {Marshal.GetLastPInvokeErrorMessage()}";
        var target = Math.Max(HighestNice, current - Raise);
        if (target == current) return $"the process already runs at the highest priority (nice {current})";
        if (setpriority(PrioProcess, tid, target) != 0)
            return $"lowering a thread's nice value is not permitted ({Marshal.GetLastPInvokeErrorMessage()}): it needs CAP_SYS_NICE or RLIMIT_NICE";
        setpriority(PrioProcess, tid, current);
        processNice = current;
        holderNice = target;
        Interlocked.Increment(ref users);
        return null;
    }

    /// <summary>
    /// Undoes one <see cref="TryEnable"/>: when no caller wants it any more, turns keep the
    /// process's priority from now on (a turn raised already is put back when it ends).
    /// </summary>
    public static void Disable()
    {
        int seen, next;
        do
        {
            seen = Volatile.Read(ref users);
            next = Math.Max(0, seen - 1);
        }
        while (Interlocked.CompareExchange(ref users, next, seen) != seen);
    }

    /// <summary>Raises the calling thread for a write turn; returns the thread to pass to <see cref="Restore"/>, or 0 when nothing was raised.</summary>
    internal static int RaiseCurrentThread()
    {
        if (Volatile.Read(ref users) == 0) return 0;
        var tid = CurrentThreadId();
        return setpriority(PrioProcess, tid, holderNice) == 0 ? tid : 0;
    }

    /// <summary>Puts a thread raised by <see cref="RaiseCurrentThread"/> back at the process's priority, from whichever thread ends the turn.</summary>
    internal static void Restore(int tid)
    {
        if (tid != 0) setpriority(PrioProcess, tid, processNice);
    }

    /// <summary>A thread's nice value, or null when it cannot be read.</summary>
    internal static int? NiceOf(int tid)
    {
        // -1 is also a valid nice value: only errno tells a failure.
        Marshal.SetLastPInvokeError(0);
        var nice = getpriority(PrioProcess, tid);
        return nice == -1 && Marshal.GetLastPInvokeError() != 0 ? null : nice;
    }

    /// <summary>The calling thread's kernel id (not <see cref="Environment.CurrentManagedThreadId"/>).</summary>
    internal static int CurrentThreadId() => threadId != 0 ? threadId : threadId = gettid();

    [DllImport("libc", SetLastError = true)]
    private static extern int getpriority(int which, int who);

    [DllImport("libc", SetLastError = true)]
    private static extern int setpriority(int which, int who, int prio);

    [DllImport("libc")]
    private static extern int gettid();

    /// <summary>Turns the raise on at start-up when <see cref="StoreOptions.RaiseWriterPriority"/> asks for it, and says whether it could.</summary>
    internal sealed partial class Starter(IOptions<StoreOptions> options, ILogger<Starter> logger) : IHostedService
    {
        private bool started;

        public Task StartAsync(CancellationToken cancellationToken)
        {
            if (!options.Value.RaiseWriterPriority) return Task.CompletedTask;
            if (TryEnable() is { } reason) LogNotRaised(reason);
            else
            {
                started = true;
                LogRaised(holderNice, processNice);
            }
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken)
        {
            if (started) Disable();
            return Task.CompletedTask;
        }

        [LoggerMessage(LogLevel.Information, "Write-turn holders run at nice {Holder}, the other threads at {Others}")]
        private partial void LogRaised(int holder, int others);

        [LoggerMessage(LogLevel.Information, "Write-turn holders keep the process's priority: {Reason}")]
        private partial void LogNotRaised(string reason);
    }
}
