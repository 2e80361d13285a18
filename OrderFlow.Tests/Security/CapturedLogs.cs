using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace OrderFlow.Tests.Security;

/// <summary>One formatted log entry, with its exception (message and stack) and scope values flattened into the text.</summary>
public sealed record CapturedLog(LogLevel Level, string Category, string Text);

/// <summary>
/// An <see cref="ILoggerProvider"/> that keeps every entry it sees, at every level: message,
/// structured values, scopes and exceptions, so a test can scan everything a sink could receive.
/// Add it with <c>ILoggerFactory.AddProvider</c>; existing loggers pick it up too.
/// </summary>
public sealed class CapturedLogs : ILoggerProvider, ISupportExternalScope
{
    private readonly ConcurrentQueue<CapturedLog> entries = new();
    private IExternalScopeProvider scopes = new LoggerExternalScopeProvider();

    public IReadOnlyList<CapturedLog> Entries => entries.ToArray();

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void SetScopeProvider(IExternalScopeProvider scopeProvider) => scopes = scopeProvider;

    public void Dispose()
    {
    }

    private sealed class Logger(CapturedLogs owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => owner.scopes.Push(state);

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var text = new System.Text.StringBuilder(formatter(state, exception));
            // The structured values too: a sink that stores them (JSON console, OTLP) sees them
            // even when the message template does not print them.
            if (state is IEnumerable<KeyValuePair<string, object?>> values)
                foreach (var (key, value) in values) text.Append(" | ").Append(key).Append('=').Append(value);
            owner.scopes.ForEachScope((scope, builder) =>
            {
                if (scope is IEnumerable<KeyValuePair<string, object?>> pairs)
                    foreach (var (key, value) in pairs) builder.Append(" | scope ").Append(key).Append('=').Append(value);
                else builder.Append(" | scope=").Append(scope);
            }, text);
            if (exception is not null) text.Append(" | ").Append(exception);
            owner.entries.Enqueue(new CapturedLog(logLevel, category, text.ToString()));
        }
    }
}
