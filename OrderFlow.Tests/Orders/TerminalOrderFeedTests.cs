using Microsoft.EntityFrameworkCore;
using OrderFlow.Orders;
using OrderFlow.Orders.Data;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.Orders;

/// <summary>The in-process feed of orders that reached a terminal state (the load generator's watch in standalone mode).</summary>
[TestFixture]
public sealed class TerminalOrderFeedTests
{
    [Test]
    public async Task Watch_WhenOrdersFinish_HoldsEachOnceAsTheStoreCommittedIt()
    {
        await using var host = await TestHost.StartAsync();
        var feed = host.Service<TerminalOrderFeed>();
        using var watch = feed.Start();
        var completed = await host.PlaceOrderAsync("USER-FEED-1", ("PROD-001", 1, 10m));
        var rejected = await host.PlaceOrderAsync("USER-FEED-2", ("PROD-UNKNOWN", 1, 10m));
        await host.WaitForStatusAsync(completed, "Completed");
        await host.WaitForStatusAsync(rejected, "Rejected");
        await host.WaitUntilDrainedAsync();

        var taken = new List<TerminalOrderFeed.TerminalOrder>();
        while (watch.TryTake(out var order)) taken.Add(order);
        await using var scope = host.Scope();
        var stored = await scope.ServiceProvider.GetRequiredService<OrdersDbContext>().Orders.AsNoTracking()
            .Select(o => new { o.Id, o.Status, o.CreatedAt, o.TerminalAt }).ToListAsync();
        Assert.Multiple(() =>
        {
            Assert.That(taken.Select(o => o.Id), Is.EquivalentTo(new[] { completed, rejected }), "each terminal order once");
            foreach (var order in taken)
            {
                var row = stored.Single(s => s.Id == order.Id);
                Assert.That(order.Status, Is.EqualTo(row.Status));
                Assert.That(order.CreatedAt, Is.EqualTo(row.CreatedAt));
                Assert.That(order.TerminalAt, Is.EqualTo(row.TerminalAt), "the terminal time the store holds");
            }
        });
    }

    [Test]
    public async Task Feed_WhenNobodyWatches_KeepsNothing_AndAllowsOneWatchAtATime()
    {
        await using var host = await TestHost.StartAsync();
        var feed = host.Service<TerminalOrderFeed>();
        var before = await host.PlaceOrderAsync("USER-FEED-3", ("PROD-001", 1, 10m));
        await host.WaitForStatusAsync(before, "Completed");

        using (var watch = feed.Start())
        {
            Assert.That(watch.TryTake(out _), Is.False, "an order finished before the watch started is not kept");
            Assert.Throws<InvalidOperationException>(() => feed.Start(), "a second watch while one runs");
        }
        using var again = feed.Start();
        var after = await host.PlaceOrderAsync("USER-FEED-4", ("PROD-001", 1, 10m));
        await host.WaitForStatusAsync(after, "Completed");
        await Eventually.Until(() => Task.FromResult(again.TryTake(out var order) && order.Id == after), "the order to reach a new watch");
    }
}
