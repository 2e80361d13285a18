using Microsoft.EntityFrameworkCore;
using OrderFlow.Host.Broker;
using OrderFlow.Inventory.Data;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.Reliability;

/// <summary>
/// The embedded broker keeps its data in memory: a restart loses every message in flight. The saga
/// deadline must still bring every order to a terminal state, with its stock released. The first
/// host's clients knew the old broker at the listener it advertised (a port that is gone, by
/// default) and find the new one by bootstrapping again on the fixed port.
/// </summary>
[TestFixture]
public sealed class BrokerRestartTests
{
    [TestCase(false)]
    [TestCase(true)]
    public async Task Orders_WhenTheEmbeddedBrokerRestartsAndLosesTheirEvents_AreCancelledAtTheDeadlineWithStockReleased(bool relayAllConnections)
    {
        var port = HostProcess.FreePort();
        var broker = EmbeddedBroker.Start(port, 3, relayAllConnections: relayAllConnections);
        var directory = Path.Combine(Path.GetTempPath(), "orderflow-tests", Guid.NewGuid().ToString("N"));
        try
        {
            // Payment is off, so each order's InventoryReserved waits, unconsumed, in the broker.
            await using var host = await TestHost.StartAsync(new Dictionary<string, string?>
            {
                ["OrderFlow:Modules:Payment:Enabled"] = "false",
                ["OrderFlow:Modules:Orders:SagaTimeout"] = "00:00:10",
            }, broker, directory);
            var ids = new List<string>();
            for (var i = 0; i < 5; i++) ids.Add(await host.PlaceOrderAsync($"USER-{i}", ("PROD-004", 2, 5m)));
            foreach (var id in ids) await host.WaitForStatusAsync(id, "InventoryReserved");

            await broker.DisposeAsync();
            broker = EmbeddedBroker.Start(port, 3, relayAllConnections: relayAllConnections);
            await using var payment = await TestHost.StartAsync(new Dictionary<string, string?>
            {
                ["OrderFlow:Modules:Orders:Enabled"] = "false",
                ["OrderFlow:Modules:Inventory:Enabled"] = "false",
                ["OrderFlow:Modules:Notification:Enabled"] = "false",
            }, broker, directory);

            foreach (var id in ids)
            {
                var order = await host.WaitForStatusAsync(id, "Cancelled", TimeSpan.FromSeconds(60));
                Assert.That(order.GetProperty("reason").GetString(), Is.EqualTo("timed_out"));
            }
            await Eventually.Until(async () =>
            {
                await using var scope = host.Scope();
                var stock = await scope.ServiceProvider.GetRequiredService<InventoryDbContext>().Stock.AsNoTracking().SingleAsync(s => s.ProductId == "PROD-004");
                return stock.Available == stock.InitialQuantity;
            }, "the stock of the lost orders released through the new broker", TimeSpan.FromSeconds(60));
            await host.AssertInvariantsEventuallyHoldAsync(TimeSpan.FromSeconds(60));
        }
        finally
        {
            await broker.DisposeAsync();
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            try { Directory.Delete(directory, recursive: true); } catch (IOException) { }
        }
    }
}
