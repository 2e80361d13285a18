using System.Collections.Concurrent;
using System.Diagnostics;

namespace OrderFlow.Messaging;

/// <summary>
/// Process-wide time spent per pipeline stage (<c>inventory.handlers</c>, <c>orders.commit</c>,
/// <c>relay.produce</c>…), for the benchmark's "where the time goes" table. Two interlocked adds
/// per sample, so it stays on in production; <see cref="Snapshot"/> reads it, <see cref="Reset"/>
/// starts over.
/// </summary>
public static class StageTimings
{
    private static readonly ConcurrentDictionary<string, Stage> Stages = new(StringComparer.Ordinal);

    public sealed record Sample(string Stage, double Seconds, long Count);

    /// <summary>Adds the time since <paramref name="startedTimestamp"/> (a <see cref="Stopwatch.GetTimestamp"/>) to <paramref name="stage"/>; returns now.</summary>
    public static long Record(string stage, long startedTimestamp, long count = 1)
    {
        var now = Stopwatch.GetTimestamp();
        var entry = Stages.GetOrAdd(stage, _ => new Stage());
        Interlocked.Add(ref entry.Ticks, now - startedTimestamp);
        Interlocked.Add(ref entry.Count, count);
        return now;
    }

    public static IReadOnlyList<Sample> Snapshot() =>
        Stages.Select(s => new Sample(s.Key, (double)Interlocked.Read(ref s.Value.Ticks) / Stopwatch.Frequency, Interlocked.Read(ref s.Value.Count)))
            .OrderBy(s => s.Stage, StringComparer.Ordinal).ToList();

    public static void Reset() => Stages.Clear();

    private sealed class Stage
    {
        public long Ticks;
        public long Count;
    }
}
