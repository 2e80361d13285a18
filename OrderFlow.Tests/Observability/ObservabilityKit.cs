using System.Collections.Concurrent;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OrderFlow.Messaging;
using OrderFlow.Persistence;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.Observability;

/// <summary>One sample of the Prometheus text format: <c>name{label="value",…} 12</c>.</summary>
public sealed record Sample(string Name, IReadOnlyDictionary<string, string> Labels, double Value)
{
    public string? this[string label] => Labels.GetValueOrDefault(label);
}

public static partial class PrometheusText
{
    public static IReadOnlyList<Sample> Parse(string text) =>
        text.Split('\n').Where(l => l.Length > 0 && l[0] != '#').Select(ParseLine).OfType<Sample>().ToList();

    private static Sample? ParseLine(string line)
    {
        var match = LineRegex().Match(line.Trim());
        if (!match.Success) return null;
        var labels = LabelRegex().Matches(match.Groups["labels"].Value).ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value);
        var value = match.Groups["value"].Value switch
        {
            "+Inf" => double.PositiveInfinity,
            "-Inf" => double.NegativeInfinity,
            "NaN" => double.NaN,
            var v => double.Parse(v, CultureInfo.InvariantCulture),
        };
        return new Sample(match.Groups["name"].Value, labels, value);
    }

    [GeneratedRegex(@"^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>.*)\})?\s+(?<value>\S+)(\s+\d+)?$")]
    private static partial Regex LineRegex();

    [GeneratedRegex(@"([a-zA-Z_][a-zA-Z0-9_]*)=""((?:[^""\\]|\\.)*)""")]
    private static partial Regex LabelRegex();
}

/// <summary>A log line as a provider saw it, with the trace id the logger's activity tracking attached.</summary>
public sealed record CapturedLog(string Category, LogLevel Level, string Message, IReadOnlyDictionary<string, object?> State, string? TraceId);

/// <summary>Collects every log line of a host, scopes included (so the trace id of <c>ActivityTrackingOptions</c> is seen).</summary>
public sealed class LogCapture : ILoggerProvider, ISupportExternalScope
{
    private readonly ConcurrentQueue<CapturedLog> logs = new();
    private IExternalScopeProvider scopes = new LoggerExternalScopeProvider();

    public IReadOnlyList<CapturedLog> Logs => logs.ToArray();

    public static LogCapture AttachTo(TestHost host)
    {
        var capture = new LogCapture();
        host.Service<ILoggerFactory>().AddProvider(capture);
        return capture;
    }

    public void SetScopeProvider(IExternalScopeProvider scopeProvider) => scopes = scopeProvider;
    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);
    public void Dispose() { }

    private sealed class Logger(LogCapture owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => owner.scopes.Push(state);
        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            string? traceId = null;
            owner.scopes.ForEachScope((scope, _) =>
            {
                if (scope is IEnumerable<KeyValuePair<string, object?>> items)
                    foreach (var (key, value) in items)
                        if (key == "TraceId") traceId = value?.ToString();
            }, (object?)null);
            var fields = state as IEnumerable<KeyValuePair<string, object?>> ?? [];
            owner.logs.Enqueue(new CapturedLog(category, logLevel, formatter(state, exception), fields.ToDictionary(f => f.Key, f => f.Value), traceId));
        }
    }
}

public static class HostExtensions
{
    public static async Task<IReadOnlyList<Sample>> MetricsAsync(this TestHost host) =>
        PrometheusText.Parse(await host.Http.GetStringAsync("/metrics"));

    public static async Task<JsonElement> GetJsonAsync(this TestHost host, string path) =>
        await host.Http.GetFromJsonAsync<JsonElement>(path);

    /// <summary>The state of one alert rule in <c>GET /alerts</c>.</summary>
    public static async Task<JsonElement> AlertAsync(this TestHost host, string name) =>
        (await host.GetJsonAsync("/alerts")).GetProperty("alerts").EnumerateArray().Single(a => a.GetProperty("name").GetString() == name);

    public static async Task<string> ReadinessAsync(this TestHost host) =>
        (await host.GetJsonAsync("/health/ready")).GetProperty("status").GetString()!;

    /// <summary>The hosted consumer of one module (its loop), to stop and start it as if the module went down.</summary>
    public static IHostedService ConsumerOf<TContext>(this TestHost host) where TContext : ModuleDbContext =>
        host.Services.GetServices<IHostedService>().OfType<EventConsumer<TContext>>().Single();
}
