using System.Diagnostics.Metrics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OrderFlow.Host.Observability;
using OrderFlow.Messaging;

namespace OrderFlow.Tests.Observability;

/// <summary>The evaluator's rules on a clock the test turns: pending, firing after For, one log line per change.</summary>
[TestFixture]
public sealed class AlertEvaluatorTests
{
    private ManualClock clock = null!;
    private ServiceProvider services = null!;
    private MessagingMetrics messaging = null!;
    private MetricsWindow window = null!;
    private Counter<long> terminal = null!;
    private LogCapture logs = null!;

    [SetUp]
    public void SetUp()
    {
        clock = new ManualClock(new DateTimeOffset(2026, 11, 25, 10, 0, 0, TimeSpan.Zero));
        services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var meters = services.GetRequiredService<IMeterFactory>();
        messaging = new MessagingMetrics(meters);
        window = new MetricsWindow(meters, clock, TimeSpan.FromMinutes(5));
        terminal = meters.Create(MessagingTelemetry.Name).CreateCounter<long>("orderflow.orders.terminal");
        logs = new LogCapture();
    }

    [TearDown]
    public void TearDown()
    {
        window.Dispose();
        services.Dispose();
        logs.Dispose();
    }

    [Test]
    public void Evaluate_WhenLagStaysAboveThresholdLongerThanFor_FiresOnceAndResolvesOnce()
    {
        var alerts = Evaluator(new AlertRuleOptions { Signal = Signals.ConsumerLag, Threshold = 100, For = TimeSpan.FromSeconds(10) });
        messaging.SetConsumerLag("orderflow-payment", [new PartitionLag("order-events", 0, 400), new PartitionLag("order-events", 1, 100)]);

        Assert.That(alerts.Evaluate().Single().State, Is.EqualTo(AlertState.Pending));
        clock.Advance(TimeSpan.FromSeconds(9));
        Assert.That(alerts.Evaluate().Single().State, Is.EqualTo(AlertState.Pending));
        clock.Advance(TimeSpan.FromSeconds(1));
        var firing = alerts.Evaluate().Single();
        clock.Advance(TimeSpan.FromSeconds(2));
        alerts.Evaluate();
        messaging.SetConsumerLag("orderflow-payment", [new PartitionLag("order-events", 0, 0), new PartitionLag("order-events", 1, 0)]);
        var resolved = alerts.Evaluate().Single();
        alerts.Evaluate();

        Assert.That(firing.State, Is.EqualTo(AlertState.Firing));
        Assert.That(firing.Value, Is.EqualTo(500));
        Assert.That(firing.Detail, Is.EqualTo("orderflow-payment"));
        Assert.That(resolved.State, Is.EqualTo(AlertState.Ok));
        Assert.That(logs.Logs.Count(l => l.Message.Contains("is firing")), Is.EqualTo(1));
        Assert.That(logs.Logs.Count(l => l.Message.Contains("resolved")), Is.EqualTo(1));
        Assert.That(logs.Logs.Single(l => l.Message.Contains("is firing")).Level, Is.EqualTo(LogLevel.Warning));
    }

    [Test]
    public void Evaluate_WhenASignalDipsBelowTheThresholdBeforeFor_StartsWaitingAgain()
    {
        var alerts = Evaluator(new AlertRuleOptions { Signal = Signals.ConsumerLag, Threshold = 100, For = TimeSpan.FromSeconds(10) });
        messaging.SetConsumerLag("g", [new PartitionLag("t", 0, 500)]);
        alerts.Evaluate();
        clock.Advance(TimeSpan.FromSeconds(8));
        messaging.SetConsumerLag("g", [new PartitionLag("t", 0, 5)]);
        alerts.Evaluate();
        messaging.SetConsumerLag("g", [new PartitionLag("t", 0, 500)]);
        clock.Advance(TimeSpan.FromSeconds(8));

        Assert.That(alerts.Evaluate().Single().State, Is.EqualTo(AlertState.Pending));
        Assert.That(logs.Logs, Is.Empty);
    }

    [Test]
    public void OrderFailureRate_WhenOrdersFailInTheWindow_IsTheirShareWithoutCustomerCancellations()
    {
        var alerts = Evaluator(new AlertRuleOptions { Signal = Signals.OrderFailureRate, Threshold = 0.01, Window = TimeSpan.FromSeconds(30) });
        Terminal("Completed", "none", 3);
        Terminal("Cancelled", "payment_failed", 1);
        Terminal("Cancelled", "user_cancelled", 5);

        var status = alerts.Evaluate().Single();
        clock.Advance(TimeSpan.FromSeconds(31));
        var later = alerts.Evaluate().Single();

        Assert.That(status.Value, Is.EqualTo(0.25));
        Assert.That(status.State, Is.EqualTo(AlertState.Firing));
        Assert.That(later.Value, Is.Null, "nothing happened in the last 30 s");
        Assert.That(later.State, Is.EqualTo(AlertState.Ok));
    }

    [Test]
    public void Quantile_WhenValuesAreKnown_IsWithinEightPercent()
    {
        var histogram = new LogHistogram();
        for (var i = 1; i <= 1000; i++) histogram.Record(i / 1000.0);

        Assert.That(histogram.Quantile(0.95), Is.EqualTo(0.95).Within(8).Percent);
        Assert.That(histogram.Quantile(0.99), Is.EqualTo(0.99).Within(8).Percent);
        Assert.That(histogram.Quantile(0.50), Is.EqualTo(0.50).Within(8).Percent);
        Assert.That(new LogHistogram().Quantile(0.5), Is.Null);
    }

    [Test]
    public void Options_WhenShippedInAppsettings_HoldTheThreeDefaultRules()
    {
        var configuration = OrderFlow.Host.OrderFlowApp.LoadConfiguration([]);
        var options = configuration.GetSection(AlertOptions.Section).Get<AlertOptions>()!;

        Assert.That(options.Rules.Where(r => r.Value.Enabled).Select(r => (r.Key, r.Value.Signal, r.Value.Threshold)), Is.EquivalentTo(new[]
        {
            ("ConsumerLag", Signals.ConsumerLag, 1000.0),
            ("FailureRate", Signals.OrderFailureRate, 0.01),
            ("ProcessingLatency", Signals.OrderLatencyP95, 5.0),
        }));
        Assert.That(new AlertOptions().Rules.Select(r => (r.Key, r.Value.Signal, r.Value.Threshold)),
            Is.EquivalentTo(options.Rules.Select(r => (r.Key, r.Value.Signal, r.Value.Threshold))), "the code's defaults match appsettings.json");
    }

    private AlertEvaluator Evaluator(AlertRuleOptions rule)
    {
        var options = new AlertOptions();
        options.Rules.Clear();
        options.Rules["Rule"] = rule;
        var logger = LoggerFactory.Create(b => b.AddProvider(logs)).CreateLogger<AlertEvaluator>();
        return new AlertEvaluator(Options.Create(options), new Signals(window, messaging), clock, logger);
    }

    private void Terminal(string outcome, string reason, int count) =>
        terminal.Add(count, new KeyValuePair<string, object?>("outcome", outcome), new KeyValuePair<string, object?>("reason", reason));
}

public sealed class ManualClock(DateTimeOffset start) : TimeProvider
{
    private DateTimeOffset now = start;
    public override DateTimeOffset GetUtcNow() => now;
    public void Advance(TimeSpan by) => now += by;
}
