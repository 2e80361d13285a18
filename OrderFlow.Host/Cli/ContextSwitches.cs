using System.Runtime.InteropServices;

namespace OrderFlow.Host.Cli;

/// <summary>
/// How often this process's threads gave up a core so far, from <c>getrusage(RUSAGE_SELF)</c>:
/// voluntarily (a thread blocked or yielded: waiting for a message, a turn, a lock, spinning in
/// <c>sched_yield</c>) and involuntarily (the scheduler took the core for another thread). The
/// kernel keeps the counts of threads that ended, which <c>/proc/self/task</c> does not. Per order
/// it shows how much hand-off between threads a run needs, which a CPU profile spreads over many
/// symbols: ~3 at full speed, ~5–7 at 2,500 orders/s (twenty-fourth session, docs/benchmarks.md).
/// Null where it cannot be read (not Linux).
/// </summary>
internal static class ContextSwitches
{
    public readonly record struct Counts(long Voluntary, long Involuntary)
    {
        public long Total => Voluntary + Involuntary;

        public static Counts operator -(Counts after, Counts before) =>
            new(after.Voluntary - before.Voluntary, after.Involuntary - before.Involuntary);
    }

    private const int RusageSelf = 0;

    public static Counts? Read()
    {
        if (!OperatingSystem.IsLinux()) return null;
        return getrusage(RusageSelf, out var usage) == 0 ? new Counts(usage.VoluntarySwitches, usage.InvoluntarySwitches) : null;
    }

    /// <summary>
    /// <c>struct rusage</c> on 64-bit Linux: two <c>struct timeval</c> (user and system time), then
    /// fourteen <c>long</c> fields, of which the last two are the context switches.
    /// </summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct Rusage
    {
        public long UserSeconds, UserMicroseconds, SystemSeconds, SystemMicroseconds;
        public long MaxRss, SharedText, UnsharedData, UnsharedStack, MinorFaults, MajorFaults, Swaps,
            BlockInputs, BlockOutputs, MessagesSent, MessagesReceived, Signals;
        public long VoluntarySwitches, InvoluntarySwitches;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int getrusage(int who, out Rusage usage);
}
