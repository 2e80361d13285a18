using System.Text.Json;
using OrderFlow.Payment.Data;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.Observability;

/// <summary>
/// SPEC §7: each default alert rule fires on the real host when its condition is made to happen,
/// shows in <c>/alerts</c> and turns <c>/health/ready</c> degraded, is logged once when it starts
/// and once when it resolves. Thresholds and windows are made small through settings.
/// </summary>
[TestFixture]
public sealed class AlertRuleTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    [Test]
    public async Task ConsumerLagRule_WhenPaymentStopsWhileOrdersArrive_FiresAndResolvesOnceItCatchesUp()
    {
        await using var host = await StartAsync(new()
        {
            ["OrderFlow:Alerts:Rules:ConsumerLag:Threshold"] = "5",
            // The held-up orders also take longer than 5 s, which that rule rightly reports; this test watches lag alone.
            ["OrderFlow:Alerts:Rules:ProcessingLatency:Enabled"] = "false",
        });
        var logs = LogCapture.AttachTo(host);
        var payment = host.ConsumerOf<PaymentDbContext>();
        await Eventually.Until(async () => (await host.AlertAsync("ConsumerLag")).GetProperty("value").ValueKind == JsonValueKind.Number,
            "consumer lag to be measured");

        await payment.StopAsync(CancellationToken.None);
        var ids = new List<string>();
        for (var i = 0; i < 4; i++) ids.Add(await host.PlaceOrderAsync($"USER-{i}", ("PROD-001", 1, 10m)));
        var firing = await WaitForStateAsync(host, "ConsumerLag", "Firing");
        var readiness = await host.ReadinessAsync();
        await payment.StartAsync(CancellationToken.None);
        var resolved = await WaitForStateAsync(host, "ConsumerLag", "Ok");

        Assert.That(firing.GetProperty("value").GetDouble(), Is.GreaterThan(5));
        Assert.That(firing.GetProperty("detail").GetString(), Is.EqualTo("orderflow-payment"));
        Assert.That(readiness, Is.EqualTo("Degraded"));
        Assert.That(resolved.GetProperty("value").GetDouble(), Is.LessThanOrEqualTo(5));
        foreach (var id in ids) await host.WaitForStatusAsync(id, "Completed");
        await Eventually.Until(async () => await host.ReadinessAsync() == "Healthy", "readiness to be healthy again");
        AssertLoggedOnceEach(logs, "ConsumerLag");
    }

    [Test]
    public async Task FailureRateRule_WhenPaymentsFail_FiresAndResolvesWhenTheFailuresLeaveTheWindow()
    {
        await using var host = await StartAsync(new()
        {
            ["OrderFlow:Modules:Payment:FailureRate"] = "1",
            ["OrderFlow:Alerts:Rules:FailureRate:Window"] = "00:00:03",
        });
        var logs = LogCapture.AttachTo(host);
        var before = (await host.GetJsonAsync("/alerts")).GetProperty("alerts").EnumerateArray().ToList();
        var readinessBefore = await host.ReadinessAsync();

        var ids = new List<string>();
        for (var i = 0; i < 3; i++) ids.Add(await host.PlaceOrderAsync($"USER-{i}", ("PROD-001", 1, 10m)));
        foreach (var id in ids) await host.WaitForStatusAsync(id, "Cancelled");
        var firing = await WaitForStateAsync(host, "FailureRate", "Firing");
        var readiness = await host.ReadinessAsync();
        var resolved = await WaitForStateAsync(host, "FailureRate", "Ok");

        Assert.That(before.Select(a => a.GetProperty("name").GetString()), Is.EquivalentTo(new[] { "ConsumerLag", "FailureRate", "ProcessingLatency" }));
        Assert.That(before.Select(a => a.GetProperty("state").GetString()), Is.All.EqualTo("Ok"), "every default rule is listed, none fires before any order");
        Assert.That(before.Select(a => a.GetProperty("threshold").GetDouble()), Is.EquivalentTo(new[] { 1000, 0.01, 5 }));
        Assert.That(readinessBefore, Is.EqualTo("Healthy"));
        Assert.That(firing.GetProperty("value").GetDouble(), Is.EqualTo(1));
        Assert.That(readiness, Is.EqualTo("Degraded"));
        Assert.That(resolved.GetProperty("value").ValueKind, Is.EqualTo(JsonValueKind.Null), "no order finished in the last 3 s");
        Assert.That(await host.ReadinessAsync(), Is.EqualTo("Healthy"));
        AssertLoggedOnceEach(logs, "FailureRate");
    }

    [Test]
    public async Task ProcessingLatencyRule_WhenPaymentIsSlow_FiresAndResolvesWhenTheSlowOrdersLeaveTheWindow()
    {
        await using var host = await StartAsync(new()
        {
            ["OrderFlow:Modules:Payment:LatencyMs"] = "400",
            ["OrderFlow:Alerts:Rules:ProcessingLatency:Threshold"] = "0.3",
            ["OrderFlow:Alerts:Rules:ProcessingLatency:Window"] = "00:00:03",
        });
        var logs = LogCapture.AttachTo(host);

        var id = await host.PlaceOrderAsync("USER-1", ("PROD-001", 1, 10m));
        await host.WaitForStatusAsync(id, "Completed");
        var firing = await WaitForStateAsync(host, "ProcessingLatency", "Firing");
        var readiness = await host.ReadinessAsync();
        var resolved = await WaitForStateAsync(host, "ProcessingLatency", "Ok");

        Assert.That(firing.GetProperty("value").GetDouble(), Is.GreaterThan(0.4 * 0.92), "p95 includes the 400 ms the gateway takes (bins are 8 % wide)");
        Assert.That(firing.GetProperty("unit").GetString(), Is.EqualTo("s"));
        Assert.That(readiness, Is.EqualTo("Degraded"));
        Assert.That(resolved.GetProperty("state").GetString(), Is.EqualTo("Ok"));
        AssertLoggedOnceEach(logs, "ProcessingLatency");
    }

    private static Task<TestHost> StartAsync(Dictionary<string, string?> settings)
    {
        settings["OrderFlow:Messaging:LagIntervalMs"] = "100";
        settings["OrderFlow:Alerts:EvaluationInterval"] = "00:00:00.100";
        settings["Logging:LogLevel:OrderFlow.Host.Observability"] = "Information";
        return TestHost.StartAsync(settings);
    }

    private static Task<JsonElement> WaitForStateAsync(TestHost host, string alert, string state) =>
        Eventually.Value(() => host.AlertAsync(alert), a => a.GetProperty("state").GetString() == state, $"alert {alert} to be {state}", Timeout);

    private static void AssertLoggedOnceEach(LogCapture logs, string alert)
    {
        var lines = logs.Logs.Where(l => l.State.TryGetValue("Alert", out var name) && (string?)name == alert).ToList();
        Assert.That(lines.Count(l => l.Message.Contains("is firing", StringComparison.Ordinal)), Is.EqualTo(1), "one line when it starts firing");
        Assert.That(lines.Count(l => l.Message.Contains("resolved", StringComparison.Ordinal)), Is.EqualTo(1), "one line when it resolves");
    }
}
