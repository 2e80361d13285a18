using System.Text;
using System.Text.Json.Serialization;
using Microsoft.EntityFrameworkCore;
using OrderFlow.Contracts;
using OrderFlow.Host.Cli;
using OrderFlow.Inventory.Data;
using OrderFlow.Messaging;
using OrderFlow.Notification.Data;
using OrderFlow.Orders.Data;
using OrderFlow.Payment.Data;
using OrderFlow.Persistence;

namespace OrderFlow.Host.Observability;

/// <summary>One thing that happened to an order, in one module.</summary>
internal sealed record TimelineEntry(
    DateTime At, string Module, string Kind, string Summary,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? EventType = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? EventId = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Topic = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? Partition = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] long? Offset = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? Attempt = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Error = null);

/// <summary>What <c>GET /orders/{id}/timeline</c> returns.</summary>
internal sealed record TimelineView(
    string OrderId, string? Status, string? Reason, string? TraceId, DateTime? CreatedAt, DateTime? TerminalAt, double? DurationSeconds,
    IReadOnlyList<TimelineEntry> Entries, bool DeadLettersChecked, string? DeadLettersNote);

/// <summary>
/// Joins, for one order, what every module recorded: the Orders state transitions, each event
/// every module applied (its inbox: time, topic, partition, offset), each module's own effects
/// (reservation, charge, refund, notification), events still waiting in an outbox, failed
/// attempts seen by this process, and the dead letters in <c>&lt;topic&gt;.dlq</c>. Like
/// <c>verify</c>, it reads every module's tables, so it is part of the host, not of a module.
/// </summary>
internal sealed class OrderTimeline(
    OrdersDbContext orders, InventoryDbContext inventory, PaymentDbContext payment, NotificationDbContext notification,
    DeliveryJournal journal, KafkaClientFactory kafka)
{
    private static readonly TimeSpan DeadLetterTimeout = TimeSpan.FromSeconds(5);

    public async Task<TimelineView?> BuildAsync(string orderId, CancellationToken cancellationToken)
    {
        var entries = new List<TimelineEntry>();
        var order = await orders.Orders.AsNoTracking().FirstOrDefaultAsync(o => o.Id == orderId, cancellationToken);
        if (order is not null)
            entries.AddRange(order.History.Select(h => new TimelineEntry(h.At, "orders", "transition",
                (h.From.Length == 0 ? h.To : $"{h.From} → {h.To}") + (h.Reason is null ? "" : $" ({h.Reason})"))));

        foreach (var (module, db) in new (string, ModuleDbContext)[] { ("orders", orders), ("inventory", inventory), ("payment", payment), ("notification", notification) })
        {
            var applied = await db.Inbox.AsNoTracking().Where(i => i.OrderId == orderId).ToListAsync(cancellationToken);
            entries.AddRange(applied.Select(i => new TimelineEntry(i.ProcessedAt, module, "applied", $"{module} applied {i.EventType}",
                i.EventType, i.EventId, i.Topic, i.Partition, i.Offset)));
            var waiting = await db.OutboxMessages.AsNoTracking().Where(m => m.Key == orderId).ToListAsync(cancellationToken);
            entries.AddRange(waiting.Select(m => new TimelineEntry(m.CreatedAt, module, "pending", $"{m.EventType} waits in the {module} outbox for {m.Topic}",
                m.EventType, m.EventId, m.Topic)));
        }

        var reservation = await inventory.Reservations.AsNoTracking().FirstOrDefaultAsync(r => r.OrderId == orderId, cancellationToken);
        if (reservation is not null)
        {
            entries.Add(new TimelineEntry(reservation.CreatedAt, "inventory", "effect", reservation.Status == ReservationStatus.Rejected
                ? $"reservation refused ({reservation.ReleaseReason})" : $"stock reserved ({reservation.Id})"));
            if (reservation.ReleasedAt is { } released)
                entries.Add(new TimelineEntry(released, "inventory", "effect", $"stock released ({reservation.ReleaseReason})"));
        }
        var request = await payment.Requests.AsNoTracking().FirstOrDefaultAsync(r => r.OrderId == orderId, cancellationToken);
        if (request is { Status: PaymentStatus.Declined })
            entries.Add(new TimelineEntry(request.UpdatedAt, "payment", "effect", $"charge declined ({request.Reason})"));
        var ledger = await payment.Ledger.AsNoTracking().Where(e => e.OrderId == orderId).ToListAsync(cancellationToken);
        entries.AddRange(ledger.Select(e => new TimelineEntry(e.At, "payment", "effect",
            e.Kind == LedgerKind.Charge ? $"charged {e.Amount:0.00} ({e.Id})" : $"refunded {e.Amount:0.00} ({e.Id})")));
        var notes = await notification.Notifications.AsNoTracking().Where(n => n.OrderId == orderId).ToListAsync(cancellationToken);
        entries.AddRange(notes.Select(n => new TimelineEntry(n.SentAt, "notification", "effect", $"customer notified: {n.Outcome}")));

        foreach (var failure in journal.For(orderId).Where(f => !f.DeadLettered))
            entries.Add(new TimelineEntry(failure.At, failure.Module, "retry", $"{failure.Module} attempt {failure.Attempt} at {failure.EventType} failed",
                failure.EventType, failure.EventId, failure.Topic, failure.Partition, failure.Offset, failure.Attempt, failure.Error));

        var (letters, checkedDlq, note) = await DeadLettersAsync(orderId, cancellationToken);
        entries.AddRange(letters);
        if (!checkedDlq)
            foreach (var failure in journal.For(orderId).Where(f => f.DeadLettered))
                entries.Add(new TimelineEntry(failure.At, failure.Module, "dead_letter", $"{failure.EventType} dead-lettered by {failure.Module} after {failure.Attempt} attempt(s)",
                    failure.EventType, failure.EventId, failure.Topic, failure.Partition, failure.Offset, failure.Attempt, failure.Error));

        if (order is null && entries.Count == 0) return null;
        var ordered = entries.OrderBy(e => e.At).ThenBy(e => KindOrder(e.Kind)).ToList();
        return new TimelineView(orderId, order?.Status.ToString(), order?.Reason, order is null ? null : Tracing.TraceIdOf(order.TraceParent),
            order?.CreatedAt, order?.TerminalAt, order?.TerminalAt is { } end ? (end - order.CreatedAt).TotalSeconds : null,
            ordered, checkedDlq, note);
    }

    /// <summary>An effect is listed after the event that caused it and before the transition it led to, when times are equal.</summary>
    private static int KindOrder(string kind) => kind switch
    {
        "retry" => 0,
        "applied" => 1,
        "effect" => 2,
        "transition" => 3,
        "dead_letter" => 4,
        _ => 5,
    };

    /// <summary>
    /// Dead letters are read back from the dead-letter topics, where they stay for good (this
    /// process's journal forgets on restart). Reading is bounded in time: the rest of the timeline
    /// does not wait for a broker that does not answer.
    /// </summary>
    private async Task<(IReadOnlyList<TimelineEntry> Entries, bool Checked, string? Note)> DeadLettersAsync(string orderId, CancellationToken cancellationToken)
    {
        var topics = kafka.Options.Layout.EventTopics.Select(Topics.DeadLetter).ToList();
        var key = Encoding.UTF8.GetBytes(orderId);
        try
        {
            var letters = await Task.Run(() => DlqCommand.Read(kafka, topics, cancellationToken), cancellationToken).WaitAsync(DeadLetterTimeout, cancellationToken);
            var mine = letters.Where(l => l.Message.Key is { } k && k.AsSpan().SequenceEqual(key)).Select(l =>
            {
                var group = l.Message.Headers.GetString(HeaderNames.DlqConsumerGroup) ?? "?";
                var module = group.StartsWith("orderflow-", StringComparison.Ordinal) ? group["orderflow-".Length..] : group;
                var at = DateTime.TryParse(l.FailedAt, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AdjustToUniversal | System.Globalization.DateTimeStyles.AssumeUniversal, out var failedAt)
                    ? failedAt : DateTime.MinValue;
                int? attempts = int.TryParse(l.Attempts, out var a) ? a : null;
                return new TimelineEntry(at, module, "dead_letter", $"{l.EventType ?? "message"} dead-lettered by {module} after {l.Attempts ?? "?"} attempt(s) to {l.Topic}[{l.Partition}]@{l.Offset}",
                    l.EventType, l.EventId, l.SourceTopic, int.TryParse(l.SourcePartition, out var p) ? p : null, long.TryParse(l.SourceOffset, out var o) ? o : null,
                    attempts, l.Error);
            }).ToList();
            return (mine, true, null);
        }
        catch (Exception ex) when (ex is TimeoutException or Confluent.Kafka.KafkaException)
        {
            return ([], false, $"dead-letter topics not read ({ex.Message}); only this process's own dead letters are listed");
        }
    }
}
