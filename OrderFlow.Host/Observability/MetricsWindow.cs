using System.Diagnostics.Metrics;
using OrderFlow.Messaging;

namespace OrderFlow.Host.Observability;

/// <summary>
/// The recent past of this host's own <c>OrderFlow</c> instruments, in one-second slots, so alert
/// rules and the dashboard can ask "how many in the last N seconds" and "p95 over the window".
/// It listens to the same measurements OpenTelemetry exports at <c>/metrics</c>, and only to the
/// meters of this host's <see cref="IMeterFactory"/> (several hosts can share a test process).
/// </summary>
internal sealed class MetricsWindow : IDisposable
{
    private readonly MeterListener listener = new();
    private readonly TimeProvider clock;
    private readonly long retentionSeconds;
    private readonly Lock gate = new();
    private readonly Dictionary<long, Dictionary<string, Series>> slots = [];
    private readonly Dictionary<string, double> totals = [];
    private readonly Dictionary<string, IReadOnlyDictionary<string, string>> tagsByKey = [];

    public MetricsWindow(IMeterFactory meters, TimeProvider clock, TimeSpan retention)
    {
        this.clock = clock;
        retentionSeconds = Math.Max(60, (long)Math.Ceiling(retention.TotalSeconds)) + 1;
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == MessagingTelemetry.Name && ReferenceEquals(instrument.Meter.Scope, meters)
                && instrument is Counter<long> or Histogram<double>)
                l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Add(instrument, value, tags));
        listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Add(instrument, value, tags));
        listener.Start();
    }

    /// <summary>Sum of a counter over the last <paramref name="window"/>, over the series whose tags match.</summary>
    public double Sum(string name, TimeSpan window, Func<IReadOnlyDictionary<string, string>, bool>? match = null)
    {
        var sum = 0.0;
        ForEachInWindow(name, window, match, series => sum += series.Sum);
        return sum;
    }

    /// <summary>Sum of a counter since this host started.</summary>
    public double Total(string name, Func<IReadOnlyDictionary<string, string>, bool>? match = null)
    {
        lock (gate)
            return totals.Where(t => NameOf(t.Key) == name && (match is null || match(tagsByKey[t.Key]))).Sum(t => t.Value);
    }

    /// <summary>The <paramref name="quantile"/> of a histogram's values over the window (within 8 %), or null without values.</summary>
    public double? Quantile(string name, TimeSpan window, double quantile, Func<IReadOnlyDictionary<string, string>, bool>? match = null)
    {
        var merged = new LogHistogram();
        ForEachInWindow(name, window, match, series => { if (series.Histogram is { } h) merged.Add(h); });
        return merged.Quantile(quantile);
    }

    /// <summary>Number of values a histogram recorded over the window.</summary>
    public long Count(string name, TimeSpan window, Func<IReadOnlyDictionary<string, string>, bool>? match = null)
    {
        long count = 0;
        ForEachInWindow(name, window, match, series => count += series.Count);
        return count;
    }

    private void ForEachInWindow(string name, TimeSpan window, Func<IReadOnlyDictionary<string, string>, bool>? match, Action<Series> visit)
    {
        var now = Now();
        var from = now - Math.Max(1, (long)Math.Ceiling(window.TotalSeconds)) + 1;
        lock (gate)
        {
            foreach (var (second, slot) in slots)
            {
                if (second < from || second > now) continue;
                foreach (var (key, series) in slot)
                    if (series.Name == name && (match is null || match(tagsByKey[key]))) visit(series);
            }
        }
    }

    private void Add(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var key = KeyOf(instrument.Name, tags);
        var now = Now();
        lock (gate)
        {
            if (!tagsByKey.ContainsKey(key)) tagsByKey[key] = TagsOf(tags);
            if (!slots.TryGetValue(now, out var slot))
            {
                slot = [];
                slots[now] = slot;
                foreach (var old in slots.Keys.Where(s => s <= now - retentionSeconds).ToList()) slots.Remove(old);
            }
            if (!slot.TryGetValue(key, out var series)) slot[key] = series = new Series(instrument.Name, instrument is Histogram<double>);
            series.Record(value);
            if (instrument is Counter<long>) totals[key] = totals.GetValueOrDefault(key) + value;
        }
    }

    private long Now() => clock.GetUtcNow().ToUnixTimeSeconds();

    private static string KeyOf(string name, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (tags.Length == 0) return name;
        var parts = new string[tags.Length];
        for (var i = 0; i < tags.Length; i++) parts[i] = $"{tags[i].Key}={tags[i].Value}";
        Array.Sort(parts, StringComparer.Ordinal);
        return name + "|" + string.Join('|', parts);
    }

    private static string NameOf(string key) => key.IndexOf('|') is var bar and >= 0 ? key[..bar] : key;

    private static Dictionary<string, string> TagsOf(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var result = new Dictionary<string, string>(tags.Length, StringComparer.Ordinal);
        foreach (var tag in tags) result[tag.Key] = Convert.ToString(tag.Value, System.Globalization.CultureInfo.InvariantCulture) ?? "";
        return result;
    }

    public void Dispose() => listener.Dispose();

    private sealed class Series(string name, bool histogram)
    {
        public string Name { get; } = name;
        public double Sum { get; private set; }
        public long Count { get; private set; }
        public LogHistogram? Histogram { get; } = histogram ? new LogHistogram() : null;

        public void Record(double value)
        {
            Sum += value;
            Count++;
            Histogram?.Record(value);
        }
    }
}

/// <summary>
/// Counts of values in logarithmic bins (each 8 % wider than the last, from 0.1 ms to about
/// 3 hours), so quantiles over minutes of measurements cost a fixed few hundred integers.
/// </summary>
internal sealed class LogHistogram
{
    private const double Min = 0.0001;
    private const double Growth = 1.08;
    private const int Bins = 300;
    private static readonly double LogGrowth = Math.Log(Growth);
    private readonly long[] counts = new long[Bins];

    public long Total { get; private set; }

    public void Record(double value)
    {
        var bin = value <= Min ? 0 : Math.Min(Bins - 1, (int)Math.Ceiling(Math.Log(value / Min) / LogGrowth));
        counts[bin]++;
        Total++;
    }

    public void Add(LogHistogram other)
    {
        for (var i = 0; i < Bins; i++) counts[i] += other.counts[i];
        Total += other.Total;
    }

    /// <summary>The upper bound of the bin holding the value at <paramref name="quantile"/>; null when empty.</summary>
    public double? Quantile(double quantile)
    {
        if (Total == 0) return null;
        var rank = Math.Max(1, (long)Math.Ceiling(quantile * Total));
        long seen = 0;
        for (var i = 0; i < Bins; i++)
        {
            seen += counts[i];
            if (seen >= rank) return Min * Math.Pow(Growth, i);
        }
        return Min * Math.Pow(Growth, Bins - 1);
    }
}
