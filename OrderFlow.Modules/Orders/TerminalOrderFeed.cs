using System.Collections.Concurrent;
using OrderFlow.Orders.Data;

namespace OrderFlow.Orders;

/// <summary>
/// The orders that reached a terminal state, as their transactions commit in this process, for a
/// watcher in the same process — the load generator in its standalone mode, which otherwise reads
/// the store again and again to learn which of its orders finished. Fed by
/// <see cref="OrdersMetrics.Collect"/>, which every save of an <see cref="OrdersDbContext"/> calls
/// (handlers, saga, API), after the commit; a rolled-back save feeds nothing. It keeps nothing
/// while nobody watches. Orders made terminal by another process never show here: a watcher still
/// looks up in the store what it has not seen.
/// </summary>
public sealed class TerminalOrderFeed
{
    private ConcurrentQueue<TerminalOrder>? queue;

    /// <summary>An order as it was committed in its terminal state.</summary>
    public sealed record TerminalOrder(string Id, OrderStatus Status, DateTime CreatedAt, DateTime TerminalAt);

    /// <summary>Keeps the terminal orders from now until the watch is disposed. One watch at a time.</summary>
    public Watch Start()
    {
        var started = new ConcurrentQueue<TerminalOrder>();
        if (Interlocked.CompareExchange(ref queue, started, null) is not null)
            throw new InvalidOperationException("the terminal-order feed is watched already");
        return new Watch(this, started);
    }

    internal bool Watched => Volatile.Read(ref queue) is not null;

    internal void Committed(TerminalOrder order) => Volatile.Read(ref queue)?.Enqueue(order);

    /// <summary>A watch of the feed: take what committed since the last take; dispose to stop keeping them.</summary>
    public sealed class Watch(TerminalOrderFeed feed, ConcurrentQueue<TerminalOrder> orders) : IDisposable
    {
        public bool TryTake([System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out TerminalOrder order) => orders.TryDequeue(out order);

        public void Dispose()
        {
            Interlocked.CompareExchange(ref feed.queue, null, orders);
            orders.Clear();
        }
    }
}
