using Microsoft.Extensions.DependencyInjection;
using OrderFlow.Host.Cli;
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

    private sealed class ShiftedClock(TimeSpan shift) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + shift;
    }
}
