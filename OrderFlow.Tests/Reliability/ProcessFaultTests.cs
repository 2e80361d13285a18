using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.Reliability;

/// <summary>
/// Hosts as real processes under load, killed with SIGKILL, stopped mid-way or sharing the SQLite
/// file. The broker runs in a process of its own (the `broker` verb) because the embedded broker
/// keeps its data in the memory of the process that hosts it; only OrderFlow hosts are killed.
/// </summary>
[TestFixture]
public sealed class ProcessFaultTests
{
    [Test]
    public async Task Host_WhenKilledWithSigkillAtRandomMomentsUnderLoad_LosesAndDuplicatesNothing()
    {
        using var cluster = new ProcessCluster();
        await using var broker = await StartBrokerAsync(cluster);
        var apiPort = HostProcess.FreePort();
        var host = await StartHostAsync(cluster, apiPort);
        await using var generate = StartGenerate(cluster, apiPort, 2500, rate: 400);
        var random = new Random(20261125);

        for (var kill = 0; kill < 3; kill++)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(random.Next(500, 2500)));
            host.Kill();
            TestContext.Progress.WriteLine($"SIGKILL #{kill + 1} of the host");
            await host.DisposeAsync();
            host = await StartHostAsync(cluster, apiPort);
        }

        try
        {
            var exit = await generate.WaitForExitAsync(TimeSpan.FromMinutes(4));
            Assert.That(exit, Is.EqualTo(0), "every order terminal:" + Environment.NewLine + string.Join(Environment.NewLine, generate.Output.TakeLast(20)));
            Assert.That(generate.Output, Has.Some.Contains("2500 of 2500 terminal"));
            // The host keeps running: notifications of the last orders may still be on their way.
            await AssertVerifyPassesAsync(cluster);
        }
        finally
        {
            await host.DisposeAsync();
        }
    }

    [Test]
    public async Task TwoHostsInOneGroup_WhenOneStopsMidway_TheOtherTakesOverAndVerifyPasses()
    {
        using var cluster = new ProcessCluster();
        await using var broker = await StartBrokerAsync(cluster);
        var apiPort = HostProcess.FreePort();
        await using var first = await StartHostAsync(cluster, apiPort);
        var second = await StartHostAsync(cluster, HostProcess.FreePort());
        await using var generate = StartGenerate(cluster, apiPort, 2000, rate: 500);

        await generate.WaitForLineAsync("progress:", TimeSpan.FromSeconds(60));
        await Task.Delay(TimeSpan.FromSeconds(1));
        await second.StopAsync();
        await second.DisposeAsync();

        var exit = await generate.WaitForExitAsync(TimeSpan.FromMinutes(3));
        Assert.That(exit, Is.EqualTo(0), string.Join(Environment.NewLine, generate.Output.TakeLast(20)));
        await AssertVerifyPassesAsync(cluster);
    }

    [Test]
    public async Task SeveralProcessesOnOneSqliteFile_UnderLoad_LoseNothingToLockContention()
    {
        using var cluster = new ProcessCluster();
        await using var broker = await StartBrokerAsync(cluster);
        var apiPort = HostProcess.FreePort();
        // Three writers on one file: a host per module pair, plus the generator writing orders.
        await using var ordersAndNotification = await StartHostAsync(cluster, apiPort,
            "OrderFlow:Modules:Inventory:Enabled=false", "OrderFlow:Modules:Payment:Enabled=false");
        await using var inventory = await StartHostAsync(cluster, HostProcess.FreePort(),
            "OrderFlow:Modules:Orders:Enabled=false", "OrderFlow:Modules:Payment:Enabled=false", "OrderFlow:Modules:Notification:Enabled=false");
        await using var payment = await StartHostAsync(cluster, HostProcess.FreePort(),
            "OrderFlow:Modules:Orders:Enabled=false", "OrderFlow:Modules:Inventory:Enabled=false", "OrderFlow:Modules:Notification:Enabled=false");
        await using var generate = StartGenerate(cluster, apiPort, 3000, rate: 0);

        var exit = await generate.WaitForExitAsync(TimeSpan.FromMinutes(3));

        Assert.That(exit, Is.EqualTo(0), string.Join(Environment.NewLine, generate.Output.TakeLast(20)));
        var logs = ordersAndNotification.Output.Concat(inventory.Output).Concat(payment.Output).ToList();
        Assert.That(logs.Where(l => l.Contains("Dead-lettered", StringComparison.Ordinal)), Is.Empty, "no message dead-lettered by lock contention");
        await AssertVerifyPassesAsync(cluster);
    }

    private static async Task<HostProcess> StartBrokerAsync(ProcessCluster cluster)
    {
        var broker = HostProcess.Start(["broker", .. cluster.Args(HostProcess.FreePort())], null);
        await broker.WaitForLineAsync("Embedded Kafka broker listening on");
        return broker;
    }

    private static async Task<HostProcess> StartHostAsync(ProcessCluster cluster, int port, params string[] settings)
    {
        var host = HostProcess.Start(cluster.Args(port, settings), null);
        await host.WaitForLineAsync("Application started");
        return host;
    }

    private static HostProcess StartGenerate(ProcessCluster cluster, int apiPort, int orders, int rate) =>
        HostProcess.Start(["generate", "--mode", "attach", "--orders", orders.ToString(), "--rate", rate.ToString(), "--timeout", "00:03:00",
            .. cluster.Args(apiPort)], null);

    private static async Task AssertVerifyPassesAsync(ProcessCluster cluster)
    {
        var output = "";
        try
        {
            await Eventually.Until(async () =>
            {
                await using var verify = HostProcess.Start(["verify", "--grace", "00:00:00", .. cluster.Args(HostProcess.FreePort())], null);
                var exit = await verify.WaitForExitAsync(TimeSpan.FromSeconds(60));
                output = string.Join(Environment.NewLine, verify.Output);
                return exit == 0;
            }, "verify to pass once in-flight events settle", TimeSpan.FromSeconds(60));
        }
        catch (AssertionException)
        {
            Assert.Fail("verify kept failing:" + Environment.NewLine + output);
        }
        TestContext.Progress.WriteLine(output);
    }
}
