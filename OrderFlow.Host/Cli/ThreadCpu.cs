using System.Globalization;

namespace OrderFlow.Host.Cli;

/// <summary>
/// CPU time of this process's threads, grouped by what the thread does, read from Linux's
/// <c>/proc/self/task/*/stat</c>: which part of the process spends the CPU of a run — the
/// consumers' workers (handlers, SQLite, EF Core; the write turns of other writers that their
/// releases hand over run there too), the thread pool (relays, the generator, HTTP), the
/// consumers' poll loops, the garbage collector, the JIT, librdkafka's client threads and the
/// embedded broker — without a profiler attached. Threads are told apart by the name the runtime,
/// librdkafka and OrderFlow give them. Empty on other systems.
/// </summary>
internal static class ThreadCpu
{
    // utime and stime are in clock ticks of USER_HZ, which Linux fixes at 100 for user space.
    private const double TicksPerSecond = 100;

    public sealed record Group(string Name, double Seconds, double Share);

    /// <summary>Ticks used so far by each live thread, by thread id, with its group.</summary>
    public static IReadOnlyDictionary<int, (string Group, long Ticks)> Snapshot()
    {
        var threads = new Dictionary<int, (string, long)>();
        if (!OperatingSystem.IsLinux() || !Directory.Exists("/proc/self/task")) return threads;
        foreach (var task in Directory.EnumerateDirectories("/proc/self/task"))
        {
            try
            {
                if (!int.TryParse(Path.GetFileName(task), NumberStyles.None, CultureInfo.InvariantCulture, out var id)) continue;
                var stat = File.ReadAllText(Path.Combine(task, "stat"));
                if (Parse(stat) is not { } thread) continue;
                threads[id] = (GroupOf(thread.Name), thread.Ticks);
            }
            catch (IOException)
            {
                // The thread ended between the listing and the read: its time is counted as "ended threads".
            }
        }
        return threads;
    }

    /// <summary>
    /// What each group used between two snapshots, largest first. Threads that ended in between
    /// took their time with them: the difference to the process's own CPU time is the group
    /// "ended threads and rounding", so the groups add up to <paramref name="processSeconds"/>.
    /// </summary>
    public static IReadOnlyList<Group> Between(IReadOnlyDictionary<int, (string Group, long Ticks)> before,
        IReadOnlyDictionary<int, (string Group, long Ticks)> after, double processSeconds)
    {
        if (after.Count == 0) return [];
        var seconds = new Dictionary<string, double>();
        foreach (var (id, (group, ticks)) in after)
        {
            // A thread id the kernel gave again to a new thread reads as fewer ticks: all of them are the new thread's.
            var start = before.TryGetValue(id, out var earlier) && earlier.Ticks <= ticks ? earlier.Ticks : 0;
            var used = (ticks - start) / TicksPerSecond;
            seconds[group] = seconds.GetValueOrDefault(group) + used;
        }
        var rest = processSeconds - seconds.Values.Sum();
        if (rest > 0) seconds["ended threads and rounding"] = rest;
        var total = Math.Max(processSeconds, seconds.Values.Sum());
        return seconds.Where(g => g.Value > 0).OrderByDescending(g => g.Value)
            .Select(g => new Group(g.Key, Math.Round(g.Value, 2), total <= 0 ? 0 : Math.Round(g.Value / total, 3))).ToList();
    }

    /// <summary>
    /// The name and utime + stime of a <c>stat</c> line. The name, in parentheses, may hold spaces
    /// and parentheses itself: it ends at the last ')', and the fields are counted from there.
    /// </summary>
    internal static (string Name, long Ticks)? Parse(string stat)
    {
        var open = stat.IndexOf('(');
        var end = stat.LastIndexOf(')');
        if (open < 0 || end < open) return null;
        // After ") ": state(3) ppid(4) ... utime(14) stime(15), i.e. the 12th and 13th fields from here.
        var fields = stat[(end + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length < 13
            || !long.TryParse(fields[11], NumberStyles.None, CultureInfo.InvariantCulture, out var user)
            || !long.TryParse(fields[12], NumberStyles.None, CultureInfo.InvariantCulture, out var system)) return null;
        return (stat[(open + 1)..end], user + system);
    }

    /// <summary>The group of a thread by its name (Linux keeps the first 15 bytes of it).</summary>
    internal static string GroupOf(string name) => name switch
    {
        _ when name.StartsWith(Messaging.DedicatedThread.ConsumerWorkerPrefix, StringComparison.Ordinal) => "consumer workers (handlers, SQLite, EF Core)",
        _ when name.StartsWith(".NET TP Worker", StringComparison.Ordinal) => "thread pool (outbox relays, generator, HTTP)",
        _ when name.StartsWith(".NET Long Runni", StringComparison.Ordinal) => "consumer poll loops (Consume, payload filter)",
        _ when name.StartsWith(".NET Server GC", StringComparison.Ordinal) || name.StartsWith(".NET BGC", StringComparison.Ordinal)
            || name.StartsWith(".NET GC", StringComparison.Ordinal) => "garbage collector",
        _ when name.StartsWith(".NET Tiered Com", StringComparison.Ordinal) => "JIT (tiered compilation)",
        _ when name.StartsWith("rdk:mock", StringComparison.Ordinal) => "embedded broker (librdkafka mock)",
        _ when name.StartsWith("rdk:", StringComparison.Ordinal) => "librdkafka client threads",
        _ when name.StartsWith(".NET Sockets", StringComparison.Ordinal) => "socket events (HTTP, TCP relay)",
        _ => "other",
    };
}
