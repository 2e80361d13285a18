using System.Collections.Concurrent;
using System.Diagnostics;
using OrderFlow.Messaging;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.Observability;

/// <summary>
/// The host exports no traces, so its sampler records no span (<c>AddOrderFlow</c>); the spans are
/// still created, so the trace still reaches the logs and every module. <see cref="TracingTests"/>
/// records every span with a listener of its own; this fixture has none that records.
/// </summary>
[TestFixture]
public sealed class UnrecordedSpansTests
{
    [Test]
    public async Task Spans_OfTheHostAlone_AreCreatedButNotRecorded_AndTheLogsStillCarryTheOrdersTraceId()
    {
        // Watches without a say: None is the lowest sampling result, so the host's sampler decides.
        var spans = new ConcurrentQueue<(string TraceId, bool AllData, bool Recorded, int Tags)>();
        using var watcher = new ActivityListener
        {
            ShouldListenTo = source => source.Name == MessagingTelemetry.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.None,
            ActivityStopped = span => spans.Enqueue((span.TraceId.ToHexString(), span.IsAllDataRequested, span.Recorded, span.TagObjects.Count())),
        };
        ActivitySource.AddActivityListener(watcher);
        await using var host = await TestHost.StartAsync(new Dictionary<string, string?>
        {
            // Some charges fail transiently and are retried, so the consumers write log lines about the order.
            ["OrderFlow:Modules:Payment:TransientErrorRate"] = "0.5",
            ["OrderFlow:Messaging:MaxAttempts"] = "20",
            ["OrderFlow:Messaging:InitialBackoffMs"] = "5",
            ["OrderFlow:Messaging:MaxBackoffMs"] = "20",
        });
        using var logs = LogCapture.AttachTo(host);

        // A message whose trace was sampled where it started (generate places orders with a new,
        // sampled traceparent; OpenTelemetry's default sampler would record every span under it).
        var sampled = Tracing.NewTraceParent();
        using (var probe = MessagingTelemetry.StartOrderActivity("orders probe", sampled, "orders", "ORD-PROBE"))
        {
            Assert.That(probe, Is.Not.Null, "the span exists: logs and published events take the trace from it");
            Assert.Multiple(() =>
            {
                Assert.That(probe!.TraceId.ToHexString(), Is.EqualTo(Tracing.TraceIdOf(sampled)));
                Assert.That(probe.IsAllDataRequested, Is.False, "not recorded");
                Assert.That(probe.TagObjects, Is.Empty);
            });
        }

        var traces = new Dictionary<string, string>();
        for (var i = 0; i < 6; i++) traces[await host.PlaceOrderAsync($"USER-U{i}", ("PROD-002", 1, 10m))] = "";
        foreach (var id in traces.Keys.ToList())
            traces[id] = (await host.WaitForStatusAsync(id, "Completed")).GetProperty("trace_id").GetString()!;
        var mine = await Eventually.Value(() => Task.FromResult(spans.Where(s => traces.ContainsValue(s.TraceId)).ToList()),
            s => traces.Values.All(t => s.Count(x => x.TraceId == t) >= 4), "a span of each order in every module");

        var retries = logs.Logs.Where(l => l.Message.Contains("retrying", StringComparison.Ordinal)).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(mine.Select(s => s.AllData), Is.All.False, "no span is recorded");
            Assert.That(mine.Select(s => s.Recorded), Is.All.False);
            Assert.That(mine.Select(s => s.Tags), Is.All.Zero, "no tags on a span nobody records");
            Assert.That(retries, Is.Not.Empty, "with half the gateway calls failing, some charge is retried");
            Assert.That(retries.Select(l => l.TraceId), Is.All.AnyOf(traces.Values.Cast<object>().ToArray()));
        });
    }
}
