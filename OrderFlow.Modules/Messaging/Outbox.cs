using System.Diagnostics;
using OrderFlow.Contracts;
using OrderFlow.Persistence;

namespace OrderFlow.Messaging;

/// <summary>
/// Collects the events a unit of work publishes. Rows are added to the module's own outbox table
/// through its DbContext, so they commit with the state change or not at all; the relay sends them.
/// </summary>
public sealed class Outbox
{
    private readonly ModuleDbContext? db;
    private readonly List<OutboxMessage>? rows;
    private readonly string traceParent;
    private readonly DateTime now;
    private readonly TopicLayout topics;
    private readonly List<IntegrationEvent> added = [];

    /// <param name="db">The module's context; the rows join its current transaction.</param>
    /// <param name="traceParent">The trace of the message being handled; a new trace is started when null.</param>
    /// <param name="now">Time of the unit of work.</param>
    /// <param name="topics">Where each event goes (<see cref="KafkaOptions.Layout"/>); SPEC §3's layout when null.</param>
    public Outbox(ModuleDbContext db, string? traceParent, DateTime now, TopicLayout? topics = null)
    {
        this.db = db;
        this.topics = topics ?? TopicLayout.Default;
        // The order's own trace wins over an ambient activity (an HTTP request's, say), so every
        // event of one order stays in one trace.
        this.traceParent = Tracing.IsValid(traceParent) ? traceParent! : Tracing.CurrentOrNew(null);
        this.now = now;
    }

    /// <summary>
    /// The outbox of a batch's unit of work: rows are collected in <paramref name="rows"/> and
    /// inserted with the batch's other rows in one statement, untracked (see InboxOutboxWriter).
    /// A consumed <paramref name="message"/>'s traceparent was checked and parsed when the message
    /// was (<see cref="IncomingMessage.TraceContext"/>), so it is not parsed again here; without
    /// one (no message, as for a batch of placed orders, or no valid traceparent) the
    /// <paramref name="traceParent"/> given, if valid (an order placed over HTTP brings its
    /// request's), else the current trace or a new one is used.
    /// </summary>
    internal Outbox(List<OutboxMessage> rows, IncomingMessage? message, DateTime now, TopicLayout topics, string? traceParent = null)
    {
        this.rows = rows;
        this.topics = topics;
        if (message?.TraceParent is { } valid)
        {
            this.traceParent = valid;
            activityTraceId = message.TraceContext.TraceId;
        }
        else this.traceParent = Tracing.IsValid(traceParent) ? traceParent! : Tracing.CurrentOrNew(null);
        this.now = now;
    }

    /// <summary>The W3C traceparent this unit of work belongs to.</summary>
    public string TraceParent => traceParent;

    /// <summary>The trace id of this unit of work.</summary>
    public string TraceId => traceId ??= Tracing.TraceIdOf(traceParent);

    private string? traceId;
    private ActivityTraceId? activityTraceId;

    public IReadOnlyList<IntegrationEvent> Added => added;

    // Compared as ids, not as hex strings: one string fewer per event.
    private ActivityTraceId ActivityTraceIdOfTrace() => activityTraceId ??= ActivityTraceId.CreateFromString(TraceId);

    public void Add(IntegrationEvent evt)
    {
        if (evt.TraceId is null) evt = evt with { TraceId = TraceId };
        added.Add(evt);
        var row = new OutboxMessage
        {
            EventId = evt.EventId,
            EventType = evt.EventType,
            EventVersion = evt.EventVersion,
            Topic = topics.TopicOf(evt.GetType()),
            Key = evt.OrderId,
            Payload = EventJson.Serialize(evt),
            TraceParent = Activity.Current is { IdFormat: ActivityIdFormat.W3C } current && current.TraceId == ActivityTraceIdOfTrace() ? current.Id : traceParent,
            CreatedAt = now,
        };
        if (rows is not null) rows.Add(row);
        else db!.OutboxMessages.Add(row);
    }
}

/// <summary>W3C trace-context helpers; spans are created by <see cref="MessagingTelemetry.Source"/> when someone listens.</summary>
public static class Tracing
{
    public static string NewTraceParent() =>
        $"00-{ActivityTraceId.CreateRandom().ToHexString()}-{ActivitySpanId.CreateRandom().ToHexString()}-01";

    public static string CurrentOrNew(string? fallback)
    {
        var current = Activity.Current;
        if (current is not null && current.IdFormat == ActivityIdFormat.W3C && current.Id is not null) return current.Id;
        return IsValid(fallback) ? fallback! : NewTraceParent();
    }

    public static string TraceIdOf(string traceParent) => traceParent.Length >= 35 ? traceParent.Substring(3, 32) : traceParent;

    public static bool IsValid(string? traceParent) =>
        traceParent is not null && ActivityContext.TryParse(traceParent, null, out _);
}
