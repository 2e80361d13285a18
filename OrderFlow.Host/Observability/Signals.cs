using OrderFlow.Messaging;

namespace OrderFlow.Host.Observability;

/// <summary>A signal's current value (null: no data in the window) and what it refers to.</summary>
internal sealed record SignalValue(double? Value, string Unit, string? Detail = null);

/// <summary>
/// The signals alert rules can watch, computed from this host's recent metrics
/// (<see cref="MetricsWindow"/>) and gauges. Names are stable: they appear in appsettings.json.
/// </summary>
internal sealed class Signals(MetricsWindow metrics, MessagingMetrics messaging)
{
    public const string ConsumerLag = "consumer_lag";
    public const string OrderFailureRate = "order_failure_rate";
    public const string OrderLatencyP95 = "order_latency_p95";
    public const string OrderLatencyP99 = "order_latency_p99";
    public const string PaymentFailureRate = "payment_failure_rate";
    public const string ReservationFailureRate = "reservation_failure_rate";
    public const string MessageFailureRate = "message_failure_rate";
    public const string MessageLatencyP95 = "message_latency_p95";
    public const string DeadLetters = "dead_letters";
    public const string OutboxBacklog = "outbox_backlog";

    public static readonly IReadOnlyList<string> All =
    [
        ConsumerLag, OrderFailureRate, OrderLatencyP95, OrderLatencyP99, PaymentFailureRate, ReservationFailureRate,
        MessageFailureRate, MessageLatencyP95, DeadLetters, OutboxBacklog,
    ];

    public SignalValue Measure(string signal, TimeSpan window) => signal switch
    {
        ConsumerLag => Lag(),
        OrderFailureRate => Ratio(metrics.Sum("orderflow.orders.terminal", window, t => t["outcome"] != "Completed" && !UserCancelled(t)),
            metrics.Sum("orderflow.orders.terminal", window, t => !UserCancelled(t)), "orders"),
        OrderLatencyP95 => new(metrics.Quantile("orderflow.order.duration", window, 0.95), "s"),
        OrderLatencyP99 => new(metrics.Quantile("orderflow.order.duration", window, 0.99), "s"),
        PaymentFailureRate => Ratio(metrics.Sum("orderflow.payment.charges", window, t => t["result"] == "failed"),
            metrics.Sum("orderflow.payment.charges", window), "charges"),
        ReservationFailureRate => Ratio(metrics.Sum("orderflow.inventory.reservations", window, t => t["result"] == "rejected"),
            metrics.Sum("orderflow.inventory.reservations", window), "reservations"),
        MessageFailureRate => Ratio(metrics.Sum("orderflow.messages.failed", window),
            metrics.Sum("orderflow.messages.failed", window) + metrics.Sum("orderflow.messages.processed", window), "messages"),
        MessageLatencyP95 => new(metrics.Quantile("orderflow.message.processing.duration", window, 0.95), "s"),
        DeadLetters => new(metrics.Sum("orderflow.dead_letters", window), "messages"),
        OutboxBacklog => new(messaging.OutboxBacklog.Values.Sum(), "messages"),
        _ => throw new ArgumentException($"unknown signal {signal}", nameof(signal)),
    };

    /// <summary>Total lag of every consumer group of this process, largest first.</summary>
    public IReadOnlyList<(string Group, long Lag, int Partitions)> LagByGroup() =>
        messaging.ConsumerLag.Where(g => g.Value.Count > 0)
            .Select(g => (g.Key, g.Value.Sum(p => p.Lag), g.Value.Count)).OrderByDescending(g => g.Item2).ThenBy(g => g.Key).ToList();

    private SignalValue Lag()
    {
        var groups = LagByGroup();
        if (groups.Count == 0) return new(null, "messages");
        var worst = groups[0];
        return new(worst.Lag, "messages", worst.Group);
    }

    private static bool UserCancelled(IReadOnlyDictionary<string, string> tags) => tags.GetValueOrDefault("reason") == "user_cancelled";

    private static SignalValue Ratio(double part, double whole, string of) =>
        whole <= 0 ? new(null, "ratio") : new(part / whole, "ratio", $"{part:0} of {whole:0} {of}");
}
