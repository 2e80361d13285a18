using System.Collections.Concurrent;
using System.Diagnostics;
using OrderFlow.Messaging;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.Observability;

/// <summary>
/// SPEC §7: one trace per order across every module, carried in the Kafka headers, and every log
/// line about the order carries its trace id. Spans are caught by an in-memory listener.
/// </summary>
[TestFixture]
public sealed class TracingTests
{
    private readonly ConcurrentQueue<Activity> spans = new();
    private ActivityListener listener = null!;
    private TestHost host = null!;
    private LogCapture logs = null!;

    [OneTimeSetUp]
    public async Task Start()
    {
        listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == MessagingTelemetry.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        host = await TestHost.StartAsync(new Dictionary<string, string?>
        {
            // Some charges fail transiently and are retried, so there are retry log lines to check.
            ["OrderFlow:Modules:Payment:TransientErrorRate"] = "0.5",
            ["OrderFlow:Messaging:MaxAttempts"] = "20",
            ["OrderFlow:Messaging:InitialBackoffMs"] = "5",
            ["OrderFlow:Messaging:MaxBackoffMs"] = "20",
        });
        logs = LogCapture.AttachTo(host);
    }

    [OneTimeTearDown]
    public async Task Stop()
    {
        await host.DisposeAsync();
        listener.Dispose();
        logs.Dispose();
    }

    [Test]
    public async Task Trace_WhenAnOrderCompletes_RunsThroughEveryModuleUnderTheOrdersTraceId()
    {
        var orderId = await host.PlaceOrderAsync("USER-T1", ("PROD-001", 1, 10m));
        var order = await host.WaitForStatusAsync(orderId, "Completed");
        var traceId = order.GetProperty("trace_id").GetString();

        var mine = await Eventually.Value(() => Task.FromResult(spans.Where(s => (string?)s.GetTagItem("orderflow.order_id") == orderId).ToList()),
            s => s.Any(x => (string?)x.GetTagItem("orderflow.module") == "notification"), "the notification module's span");

        Assert.That(mine.Select(s => (string?)s.GetTagItem("orderflow.module")).Distinct(),
            Is.EquivalentTo(new[] { "orders", "inventory", "payment", "notification" }));
        Assert.That(mine.Select(s => s.TraceId.ToHexString()), Is.All.EqualTo(traceId));
        Assert.That(mine.Select(s => s.ParentSpanId), Has.None.EqualTo(default(ActivitySpanId)), "every span continues the trace it was sent in");
        Assert.That(mine.Select(s => s.DisplayName), Has.Member("inventory OrderCreated").And.Member("notification OrderStatusChanged"));
        Assert.That(mine.Select(s => s.Kind), Is.All.EqualTo(ActivityKind.Consumer));
    }

    [Test]
    public async Task Logs_WhenChargesAreRetried_CarryTheTraceIdOfTheOrderTheyConcern()
    {
        var traces = new Dictionary<string, string>();
        for (var i = 0; i < 6; i++)
        {
            var id = await host.PlaceOrderAsync($"USER-L{i}", ("PROD-002", 1, 10m));
            traces[id] = "";
        }
        foreach (var id in traces.Keys.ToList())
            traces[id] = (await host.WaitForStatusAsync(id, "Completed")).GetProperty("trace_id").GetString()!;

        var retries = logs.Logs.Where(l => l.Message.Contains("retrying", StringComparison.Ordinal)).ToList();
        var aboutAnOrder = logs.Logs.Where(l => l.State.TryGetValue("OrderId", out var id) && id is string s && traces.ContainsKey(s)).ToList();

        Assert.That(retries, Is.Not.Empty, "with half the gateway calls failing, some charge is retried");
        Assert.That(retries.Select(l => l.TraceId), Is.All.AnyOf(traces.Values.Cast<object>().ToArray()));
        Assert.That(aboutAnOrder.Select(l => l.TraceId == traces[(string)l.State["OrderId"]!]), Is.All.True);
    }
}
