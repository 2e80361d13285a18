using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OrderFlow.Host.Cli;
using OrderFlow.Orders.Data;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.Cli;

/// <summary>The load generator's watch of the store (docs/benchmarks.md: it reads a short window of finished orders).</summary>
[TestFixture]
public sealed class LoadGeneratorTests
{
    [TestCase(100, TestName = "Run_WhenTerminalTimesFallBeforeTheWatchWindow_StillFindsEveryOrder")]
    [TestCase(5, TestName = "Run_WhenTerminalTimesFallBeforeTheWatchWindowAndFillTheOrdersInFlight_StillFindsEveryOrder")]
    public async Task Run_WhenTerminalTimesFallBeforeTheWatchWindow(int maxInFlight)
    {
        await using var host = await TestHost.StartAsync();
        // The generator's clock runs 10 s ahead of the pipeline's: every terminal time the
        // pipeline writes lies before the window the generator reads (as after a clock step), so
        // only the look-up of unfinished orders by id can find them.
        var generator = new LoadGenerator(host.Services.GetRequiredService<IServiceScopeFactory>(), new ShiftedClock(TimeSpan.FromSeconds(10)));
        var settings = new GenerateSettings(Orders: 20, Rate: 0, Users: 5, MaxInFlight: maxInFlight, Products: ["PROD-001", "PROD-002"], Seed: 7,
            Timeout: TimeSpan.FromSeconds(60));

        var report = await generator.RunAsync(settings, null, CancellationToken.None);

        Assert.Multiple(() =>
        {
            Assert.That(report.TimedOut, Is.False);
            Assert.That(report.Terminal, Is.EqualTo(20));
            Assert.That(report.Latency.Count, Is.EqualTo(20), "each order's latency is taken from the store once");
            Assert.That(report.Outcomes.Values.Sum(), Is.EqualTo(20));
        });
    }

    [Test]
    public async Task Run_WithTheTerminalOrderFeed_TakesEachOrderAsTheStoreHoldsIt()
    {
        await using var host = await TestHost.StartAsync();
        // The clock that hides every order from the window of the store (as above). With the feed
        // the generator does not read that window; what this shows is that the figures it takes
        // from the feed are the store's (TerminalOrderFeedTests shows that the feed holds them).
        var generator = new LoadGenerator(host.Services.GetRequiredService<IServiceScopeFactory>(), new ShiftedClock(TimeSpan.FromSeconds(10)),
            terminalOrders: host.Service<OrderFlow.Orders.TerminalOrderFeed>());
        var settings = new GenerateSettings(Orders: 30, Rate: 0, Users: 5, MaxInFlight: 10, Products: ["PROD-001", "PROD-002"], Seed: 7,
            Timeout: TimeSpan.FromSeconds(60));

        var report = await generator.RunAsync(settings, null, CancellationToken.None);

        await using var scope = host.Services.CreateAsyncScope();
        var latencies = (await scope.ServiceProvider.GetRequiredService<OrdersDbContext>().Orders.AsNoTracking()
            .Select(o => new { o.CreatedAt, o.TerminalAt }).ToListAsync()).Select(o => (o.TerminalAt!.Value - o.CreatedAt).TotalMilliseconds).Order().ToList();
        Assert.Multiple(() =>
        {
            Assert.That(report.TimedOut, Is.False);
            Assert.That(report.Terminal, Is.EqualTo(30));
            Assert.That(report.Latency.Count, Is.EqualTo(30));
            Assert.That(report.Latency.MaxMs, Is.EqualTo(latencies[^1]).Within(0.001), "latency from the committed times, as the store holds them");
            Assert.That(report.Outcomes, Is.EqualTo(new Dictionary<string, int> { ["Completed"] = 30 }));
        });
        Assert.DoesNotThrow(() => host.Service<OrderFlow.Orders.TerminalOrderFeed>().Start().Dispose(), "the run's watch ended with it");
    }

    [Test]
    public async Task Run_WithAWarmup_StartsTheMeasuredOrdersOnceEveryWarmupOrderIsTerminal()
    {
        await using var host = await TestHost.StartAsync();
        var generator = new LoadGenerator(host.Services.GetRequiredService<IServiceScopeFactory>(), TimeProvider.System);
        // No rate and room for all: without the wait, warm-up and measured orders would be placed
        // in one go, before any of them finished.
        var settings = new GenerateSettings(Orders: 20, Rate: 0, Users: 5, MaxInFlight: 1_000, Products: ["PROD-001", "PROD-002"], Seed: 7,
            Timeout: TimeSpan.FromSeconds(60), Warmup: 30);

        var report = await generator.RunAsync(settings, null, CancellationToken.None);

        await using var scope = host.Services.CreateAsyncScope();
        var orders = await scope.ServiceProvider.GetRequiredService<OrdersDbContext>().Orders.AsNoTracking()
            .OrderBy(o => o.CreatedAt).Select(o => new { o.CreatedAt, o.TerminalAt }).ToListAsync();
        Assert.Multiple(() =>
        {
            Assert.That(report.TimedOut, Is.False);
            Assert.That(orders, Has.Count.EqualTo(50));
            Assert.That(orders.Skip(30).Min(o => o.CreatedAt), Is.GreaterThanOrEqualTo(orders.Take(30).Max(o => o.TerminalAt!.Value)),
                "the first measured order is created after the last warm-up order finished");
            Assert.That(report.WarmupOrders, Is.EqualTo(30));
            Assert.That(report.Latency.Count, Is.EqualTo(20), "latency is taken from the measured orders only");
            Assert.That(report.LatencyBySecond!.Sum(s => s.Count), Is.EqualTo(20), "every measured order is in one second of the series");
            Assert.That(report.LatencyBySecond!.Select(s => s.Second), Is.Ordered.And.Unique);
            Assert.That(report.LatencyBySecond!.Max(s => s.P99Ms), Is.EqualTo(report.Latency.MaxMs).Within(0.001),
                "the worst second holds the slowest order when each second has fewer than 100 orders");
        });
    }

    [Test]
    public async Task Run_WhileAConsumerGroupIsTooFarBehind_HoldsNewOrdersAndReportsHowLong()
    {
        await using var host = await TestHost.StartAsync();
        var behindUntil = DateTime.UtcNow + TimeSpan.FromSeconds(1);
        var asked = 0;
        // A group 5,000 messages behind in a partition for the first second, then caught up.
        var generator = new LoadGenerator(host.Services.GetRequiredService<IServiceScopeFactory>(), TimeProvider.System,
            () => { asked++; return DateTime.UtcNow < behindUntil ? 5_000 : 0; });
        var settings = new GenerateSettings(Orders: 20, Rate: 0, Users: 5, MaxInFlight: 1_000, Products: ["PROD-001", "PROD-002"], Seed: 7,
            Timeout: TimeSpan.FromSeconds(60), MaxPartitionLag: 4_000);

        var report = await generator.RunAsync(settings, null, CancellationToken.None);

        await using var scope = host.Services.CreateAsyncScope();
        var firstCreated = await scope.ServiceProvider.GetRequiredService<OrdersDbContext>().Orders.AsNoTracking().MinAsync(o => o.CreatedAt);
        Assert.Multiple(() =>
        {
            Assert.That(report.TimedOut, Is.False);
            Assert.That(report.Terminal, Is.EqualTo(20));
            Assert.That(firstCreated, Is.GreaterThanOrEqualTo(behindUntil - TimeSpan.FromMilliseconds(50)), "no order is created while the group is behind");
            Assert.That(report.LagHeldSeconds, Is.InRange(0.8, 30), "the hold is reported");
            Assert.That(asked, Is.GreaterThan(1));
        });
    }

    [Test]
    public async Task Run_WithoutALagLimit_DoesNotWaitForTheConsumers()
    {
        await using var host = await TestHost.StartAsync();
        var generator = new LoadGenerator(host.Services.GetRequiredService<IServiceScopeFactory>(), TimeProvider.System, () => long.MaxValue);
        var settings = new GenerateSettings(Orders: 20, Rate: 0, Users: 5, MaxInFlight: 1_000, Products: ["PROD-001", "PROD-002"], Seed: 7,
            Timeout: TimeSpan.FromSeconds(60), MaxPartitionLag: 0);

        var report = await generator.RunAsync(settings, null, CancellationToken.None);

        Assert.Multiple(() =>
        {
            Assert.That(report.Terminal, Is.EqualTo(20));
            Assert.That(report.LagHeldSeconds, Is.Zero);
        });
    }

    private sealed class ShiftedClock(TimeSpan shift) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + shift;
    }
}
