using System.Text;
using System.Text.RegularExpressions;
using Confluent.Kafka;
using OrderFlow.Contracts;
using OrderFlow.Messaging;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.Observability;

/// <summary>SPEC §7: <c>/metrics</c> counts what really happened, once, and consumer lag drains to zero.</summary>
[TestFixture]
public sealed partial class MetricsTests
{
    [Test]
    public async Task Metrics_WhenOrdersFlowThrough_CountEachOrderOnceAndLagDrainsToZero()
    {
        await using var host = await TestHost.StartAsync(new Dictionary<string, string?>
        {
            ["OrderFlow:Modules:Payment:DeclineAbove"] = "1000",
            ["OrderFlow:Messaging:LagIntervalMs"] = "100",
        });
        var ids = new List<string>();
        for (var i = 0; i < 6; i++) ids.Add(await host.PlaceOrderAsync($"USER-{i}", ("PROD-001", 1, 10m)));
        for (var i = 0; i < 2; i++) ids.Add(await host.PlaceOrderAsync($"USER-D{i}", ("PROD-002", 1, 5000m)));
        ids.Add(await host.PlaceOrderAsync("USER-R", ("PROD-NOPE", 1, 1m)));
        foreach (var id in ids) await Eventually.Until(async () => (await host.GetOrderAsync(id)).GetProperty("is_terminal").GetBoolean(), $"{id} terminal");

        // Orders publishes OrderCancelled and the terminal status together: Notification may apply
        // the status before Inventory applies OrderCancelled, so both are waited for.
        var samples = await Eventually.Value(host.MetricsAsync,
            s => Sum(s, "orderflow_messages_processed_total", "notification") == ids.Count
                 && Sum(s, "orderflow_messages_processed_total", "inventory") >= ids.Count + 2 + 2,
            "the notification module to have applied one terminal status per order, and inventory the compensations");

        Assert.That(Sum(samples, "orderflow_orders_created_total"), Is.EqualTo(ids.Count));
        Assert.That(Terminal(samples, "Completed", "none"), Is.EqualTo(6));
        Assert.That(Terminal(samples, "Cancelled", "payment_failed"), Is.EqualTo(2));
        Assert.That(Terminal(samples, "Rejected", "unknown_product"), Is.EqualTo(1));
        Assert.That(Sum(samples, "orderflow_order_duration_seconds_count"), Is.EqualTo(ids.Count));
        Assert.That(samples.Where(s => s.Name == "orderflow_order_duration_seconds_bucket" && s["le"] == "+Inf").Sum(s => s.Value), Is.EqualTo(ids.Count));
        Assert.That(Charges(samples, "completed"), Is.EqualTo(6));
        Assert.That(Charges(samples, "failed"), Is.EqualTo(2));
        Assert.That(Reservations(samples, "reserved"), Is.EqualTo(8));
        Assert.That(Reservations(samples, "rejected"), Is.EqualTo(1));
        Assert.That(Sum(samples, "orderflow_inventory_releases_total"), Is.EqualTo(2));
        Assert.That(Sum(samples, "orderflow_messages_processed_total", "inventory"), Is.EqualTo(ids.Count + 2 + 2),
            "OrderCreated of each order; PaymentFailed and then OrderCancelled of the two declined ones");
        Assert.That(samples.Where(s => s.Name == "orderflow_message_processing_duration_seconds_count").Select(s => s["module"]),
            Is.EquivalentTo(new[] { "orders", "inventory", "payment", "notification" }));
        Assert.That(Sum(samples, "orderflow_dead_letters_total"), Is.Zero);

        await Eventually.Until(async () =>
        {
            var lag = (await host.MetricsAsync()).Where(s => s.Name == "orderflow_consumer_lag").ToList();
            return lag.Select(s => s["group"]).Distinct().Count() == 4 && lag.All(s => s.Value == 0);
        }, "every partition of the four consumer groups to report lag 0 once drained");
        await Eventually.Until(async () => (await host.MetricsAsync()).Where(s => s.Name == "orderflow_outbox_backlog").All(s => s.Value == 0),
            "every outbox to be empty");
    }

    [Test]
    public async Task Metrics_WhenAMessageIsDeadLettered_CountItAndExportEveryNamePrometheusAndGrafanaUse()
    {
        await using var host = await TestHost.StartAsync(new Dictionary<string, string?>
        {
            ["OrderFlow:Modules:Payment:DeclineAbove"] = "1000",
            ["OrderFlow:Messaging:LagIntervalMs"] = "100",
        });
        var completed = await host.PlaceOrderAsync("USER-1", ("PROD-001", 1, 10m));
        var declined = await host.PlaceOrderAsync("USER-2", ("PROD-001", 1, 5000m));
        await host.WaitForStatusAsync(completed, "Completed");
        await host.WaitForStatusAsync(declined, "Cancelled");
        using (var producer = new ProducerBuilder<byte[], byte[]>(host.Service<KafkaClientFactory>().ProducerConfig()).Build())
            await producer.ProduceAsync(Topics.InventoryEvents, new Message<byte[], byte[]>
            {
                Key = Encoding.UTF8.GetBytes(completed),
                Value = Encoding.UTF8.GetBytes("not json"),
                Headers = new Headers { { HeaderNames.EventType, Encoding.UTF8.GetBytes("InventoryReleased") } },
            });

        var samples = await Eventually.Value(host.MetricsAsync, s => Sum(s, "orderflow_dead_letters_total") == 1, "one dead letter counted");
        await Eventually.Until(async () => (await host.MetricsAsync()).Any(s => s.Name == "orderflow_consumer_lag"), "consumer lag measured");
        samples = await host.MetricsAsync();
        var exported = samples.Select(s => s.Name).ToHashSet();
        var used = DeployFiles().SelectMany(f => MetricName().Matches(File.ReadAllText(f)).Select(m => (File: Path.GetFileName(f), Name: m.Value))).Distinct().ToList();

        Assert.That(samples.Single(s => s.Name == "orderflow_dead_letters_total")["topic"], Is.EqualTo(Topics.InventoryEvents));
        Assert.That(Sum(samples, "orderflow_messages_failed_total", "orders"), Is.EqualTo(1));
        Assert.That(used, Is.Not.Empty);
        Assert.That(used.Where(u => !exported.Contains(u.Name)).Select(u => $"{u.File}: {u.Name}"), Is.Empty,
            "every metric the Prometheus rules and the Grafana dashboard query is one the host exports");
    }

    private static IEnumerable<string> DeployFiles() =>
    [
        Path.Combine(RepoPaths.Root, "deploy", "prometheus", "alerts.yml"),
        Path.Combine(RepoPaths.Root, "deploy", "grafana", "dashboards", "orderflow.json"),
    ];

    [GeneratedRegex(@"\borderflow_[a-z_]+\b")]
    private static partial Regex MetricName();

    private static double Sum(IEnumerable<Sample> samples, string name, string? module = null) =>
        samples.Where(s => s.Name == name && (module is null || s["module"] == module)).Sum(s => s.Value);

    private static double Terminal(IEnumerable<Sample> samples, string outcome, string reason) =>
        samples.Where(s => s.Name == "orderflow_orders_terminal_total" && s["outcome"] == outcome && s["reason"] == reason).Sum(s => s.Value);

    private static double Charges(IEnumerable<Sample> samples, string result) =>
        samples.Where(s => s.Name == "orderflow_payment_charges_total" && s["result"] == result).Sum(s => s.Value);

    private static double Reservations(IEnumerable<Sample> samples, string result) =>
        samples.Where(s => s.Name == "orderflow_inventory_reservations_total" && s["result"] == result).Sum(s => s.Value);
}
