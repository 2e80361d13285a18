using Microsoft.EntityFrameworkCore;
using OrderFlow.Orders.Data;

namespace OrderFlow.Host.Observability;

internal sealed record ThroughputView(double OrdersPerSecond, double CreatedPerSecond, double MessagesPerSecond, int WindowSeconds);
internal sealed record LatencyView(double? P50, double? P95, double? P99, long Orders, int WindowSeconds);
internal sealed record GroupLagView(string Group, long Lag, int Partitions);
internal sealed record RatesView(double? PaymentSuccess, double? ReservationSuccess, double? OrderFailure, int WindowSeconds);
internal sealed record TotalsView(double Created, double Completed, double Rejected, double Cancelled, double MessagesProcessed, double DeadLetters, long OutboxBacklog);
internal sealed record RecentOrderView(string OrderId, string Status, string? Reason, DateTime CreatedAt, DateTime UpdatedAt, string Timeline);

/// <summary>What the dashboard polls (<c>GET /dashboard/data</c>).</summary>
internal sealed record DashboardView(
    DateTime GeneratedAt, ThroughputView Throughput, LatencyView Latency, RatesView Rates, IReadOnlyList<GroupLagView> Lag,
    IReadOnlyDictionary<string, int> OrdersByState, TotalsView Totals, IReadOnlyList<AlertStatus> Alerts, IReadOnlyList<RecentOrderView> RecentOrders);

/// <summary>
/// Builds the dashboard's numbers: throughput over the last 10 s, latency percentiles and success
/// rates over the last minute (from this host's metrics), lag, alerts, and — from the Orders
/// table, so they hold across restarts and processes — orders by state and the latest orders.
/// </summary>
internal sealed class DashboardData(MetricsWindow metrics, Signals signals, AlertEvaluator alerts, OrdersDbContext orders, TimeProvider clock)
{
    private static readonly TimeSpan Recent = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan Minute = TimeSpan.FromMinutes(1);

    public async Task<DashboardView> BuildAsync(CancellationToken cancellationToken)
    {
        var byState = Enum.GetNames<OrderStatus>().ToDictionary(s => s, _ => 0);
        foreach (var row in await orders.Orders.AsNoTracking().GroupBy(o => o.Status).Select(g => new { g.Key, Count = g.Count() }).ToListAsync(cancellationToken))
            byState[row.Key.ToString()] = row.Count;
        var recent = await orders.Orders.AsNoTracking().OrderByDescending(o => o.CreatedAt).Take(15)
            .Select(o => new { o.Id, o.Status, o.Reason, o.CreatedAt, o.UpdatedAt }).ToListAsync(cancellationToken);

        var seconds = Recent.TotalSeconds;
        var throughput = new ThroughputView(
            metrics.Sum("orderflow.orders.terminal", Recent) / seconds,
            metrics.Sum("orderflow.orders.created", Recent) / seconds,
            metrics.Sum("orderflow.messages.processed", Recent) / seconds,
            (int)seconds);
        var latency = new LatencyView(
            metrics.Quantile("orderflow.order.duration", Minute, 0.50),
            metrics.Quantile("orderflow.order.duration", Minute, 0.95),
            metrics.Quantile("orderflow.order.duration", Minute, 0.99),
            metrics.Count("orderflow.order.duration", Minute),
            (int)Minute.TotalSeconds);
        var rates = new RatesView(
            1 - signals.Measure(Signals.PaymentFailureRate, Minute).Value,
            1 - signals.Measure(Signals.ReservationFailureRate, Minute).Value,
            signals.Measure(Signals.OrderFailureRate, Minute).Value,
            (int)Minute.TotalSeconds);
        var totals = new TotalsView(
            metrics.Total("orderflow.orders.created"),
            metrics.Total("orderflow.orders.terminal", t => t["outcome"] == "Completed"),
            metrics.Total("orderflow.orders.terminal", t => t["outcome"] == "Rejected"),
            metrics.Total("orderflow.orders.terminal", t => t["outcome"] == "Cancelled"),
            metrics.Total("orderflow.messages.processed"),
            metrics.Total("orderflow.dead_letters"),
            (long)(signals.Measure(Signals.OutboxBacklog, Minute).Value ?? 0));

        return new DashboardView(clock.GetUtcNow().UtcDateTime, throughput, latency, rates,
            signals.LagByGroup().Select(g => new GroupLagView(g.Group, g.Lag, g.Partitions)).ToList(),
            byState, totals, alerts.Current,
            recent.Select(o => new RecentOrderView(o.Id, o.Status.ToString(), o.Reason, o.CreatedAt, o.UpdatedAt, $"/orders/{o.Id}/timeline")).ToList());
    }
}
