using System.Diagnostics.Metrics;
using Microsoft.EntityFrameworkCore;
using OrderFlow.Messaging;
using OrderFlow.Orders.Data;

namespace OrderFlow.Orders;

/// <summary>
/// The Orders module's instruments: orders created, orders per terminal outcome and the
/// end-to-end duration from creation to the terminal state. They are recorded from the state
/// changes the module commits (<see cref="Collect"/>, called by every save of an
/// <see cref="Data.OrdersDbContext"/> in an application that has this service), so every path — handlers, the saga, the
/// cancel API — counts once, and a rolled-back unit of work counts nothing. The orders made
/// terminal also go to the <see cref="TerminalOrderFeed"/>, while someone watches it.
/// </summary>
public sealed class OrdersMetrics
{
    private readonly Counter<long> created;
    private readonly Counter<long> terminal;
    private readonly Histogram<double> duration;
    private readonly TerminalOrderFeed? feed;

    public OrdersMetrics(IMeterFactory meters, TerminalOrderFeed? feed = null)
    {
        this.feed = feed;
        var meter = meters.Create(MessagingTelemetry.Name);
        created = meter.CreateCounter<long>("orderflow.orders.created", "{order}", "Orders created");
        terminal = meter.CreateCounter<long>("orderflow.orders.terminal", "{order}", "Orders that reached a terminal state, by outcome and reason");
        duration = meter.CreateHistogram<double>("orderflow.order.duration", "s", "End-to-end order duration, from creation to its terminal state",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300] });
    }

    /// <summary>Records, once <paramref name="db"/> commits, the orders its save creates and the ones it makes terminal (called as it saves).</summary>
    internal void Collect(OrdersDbContext db)
    {
        // Orders placed in bulk are inserted untracked (ModuleDbContext.Insert).
        foreach (var order in db.Inserted<Order>())
        {
            db.AfterCommit(() => created.Add(1));
            if (order.IsTerminal) AfterTerminal(db, order);
        }
        // The consumers read a batch's orders untracked (PreloadUntracked); the API tracks them.
        foreach (var (order, status) in db.LoadedRows<Order>(nameof(Order.Status)))
            if (order.IsTerminal && !Order.IsTerminalStatus((OrderStatus)status!)) AfterTerminal(db, order);
        foreach (var entry in db.ChangeTracker.Entries<Order>())
        {
            var order = entry.Entity;
            if (entry.State == EntityState.Added)
            {
                db.AfterCommit(() => created.Add(1));
                if (order.IsTerminal) AfterTerminal(db, order);
            }
            else if (entry.State is EntityState.Modified or EntityState.Unchanged
                     && order.IsTerminal && !Order.IsTerminalStatus(entry.Property(o => o.Status).OriginalValue))
            {
                AfterTerminal(db, order);
            }
        }
    }

    private void AfterTerminal(OrdersDbContext db, Order order)
    {
        var outcome = new KeyValuePair<string, object?>("outcome", order.Status.ToString());
        var reason = new KeyValuePair<string, object?>("reason", ReasonCategory(order.Reason));
        var terminalAt = order.TerminalAt ?? order.UpdatedAt;
        var seconds = (terminalAt - order.CreatedAt).TotalSeconds;
        var fed = feed is { Watched: true } ? new TerminalOrderFeed.TerminalOrder(order.Id, order.Status, order.CreatedAt, terminalAt) : null;
        db.AfterCommit(() =>
        {
            terminal.Add(1, outcome, reason);
            duration.Record(Math.Max(0, seconds), outcome);
            if (fed is not null) feed!.Committed(fed);
        });
    }

    /// <summary>The reason without its detail ("insufficient_stock: PROD-7" → "insufficient_stock"), so the label stays low-cardinality.</summary>
    internal static string ReasonCategory(string? reason)
    {
        if (string.IsNullOrEmpty(reason)) return "none";
        var colon = reason.IndexOf(':');
        var category = (colon < 0 ? reason : reason[..colon]).Trim();
        return category is OrderReasons.PaymentFailed or OrderReasons.UserCancelled or OrderReasons.TimedOut
            or OrderReasons.InsufficientStock or OrderReasons.UnknownProduct ? category : "other";
    }
}
