using System.Net;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OrderFlow.Contracts;
using OrderFlow.Host.Broker;
using OrderFlow.Host.Cli;
using OrderFlow.Notification.Data;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.EndToEnd;

/// <summary>
/// <c>Kafka:OrderStatusTopic</c> gives the order status changes a topic of their own: every path
/// still ends where SPEC §4 says, Notification reads the changes there, and Inventory and Payment
/// still get what they act on (<c>OrderCreated</c>, <c>OrderCancelled</c>) from <c>order-events</c>.
/// </summary>
[TestFixture]
public sealed class OrderStatusTopicTests
{
    private const string StatusTopic = "order-status";
    private EmbeddedBroker broker = null!;
    private TestHost host = null!;

    [OneTimeSetUp]
    public async Task StartHost()
    {
        broker = EmbeddedBroker.Start(0, 3, new TopicLayout(StatusTopic).All);
        host = await TestHost.StartAsync(new Dictionary<string, string?>
        {
            ["Kafka:OrderStatusTopic"] = StatusTopic,
            ["OrderFlow:Modules:Inventory:Catalog:PROD-001"] = "1000",
            ["OrderFlow:Modules:Inventory:Catalog:PROD-SCARCE"] = "1",
            ["OrderFlow:Modules:Payment:DeclineAbove"] = "5000",
            // Paid orders wait before they complete, so one can be cancelled after its charge.
            ["OrderFlow:Modules:Orders:FulfilmentHold"] = "00:00:01",
        }, broker);
    }

    [OneTimeTearDown]
    public async Task StopHost()
    {
        await host.DisposeAsync();
        await broker.DisposeAsync();
    }

    [Test]
    public async Task Flow_WithStatusChangesOnTheirOwnTopic_EndsEveryPathAndKeepsOrderEventsFreeOfThem()
    {
        var completed = await host.PlaceOrderAsync("USER-001", ("PROD-001", 2, 10m));
        var rejected = await host.PlaceOrderAsync("USER-002", ("PROD-SCARCE", 2, 1m));
        var declined = await host.PlaceOrderAsync("USER-003", ("PROD-001", 1, 6000m));
        var cancelled = await host.PlaceOrderAsync("USER-004", ("PROD-001", 3, 10m));
        await host.WaitForStatusAsync(cancelled, "Paid");
        Assert.That((await host.Http.PostAsync($"/orders/{cancelled}/cancel", null)).StatusCode, Is.EqualTo(HttpStatusCode.Accepted));

        await host.WaitForStatusAsync(completed, "Completed");
        await host.WaitForStatusAsync(rejected, "Rejected");
        await host.WaitForStatusAsync(declined, "Cancelled");
        await host.WaitForStatusAsync(cancelled, "Cancelled");
        // Invariants 2-4 need the compensations (stock released, charge refunded) and one notification each.
        await host.AssertInvariantsEventuallyHoldAsync();

        string[] orders = [completed, rejected, declined, cancelled];
        var onOrderEvents = EventsOf(Topics.OrderEvents, orders);
        var onStatusTopic = EventsOf(StatusTopic, orders);
        Assert.That(onOrderEvents.Select(e => e.Type).Distinct(), Is.EquivalentTo(new[] { "OrderCreated", "OrderCancelled" }));
        Assert.That(onStatusTopic.Select(e => e.Type).Distinct(), Is.EqualTo(new[] { "OrderStatusChanged" }));
        // Every transition of every order: Created is the order's first state, not a change.
        var transitions = 0;
        foreach (var id in orders) transitions += (await host.GetOrderAsync(id)).GetProperty("history").GetArrayLength() - 1;
        Assert.That(onStatusTopic, Has.Count.EqualTo(transitions));
        await using var scope = host.Scope();
        var notifications = scope.ServiceProvider.GetRequiredService<NotificationDbContext>();
        Assert.That(await notifications.Notifications.CountAsync(n => orders.Contains(n.OrderId)), Is.EqualTo(orders.Length));
    }

    private List<(string OrderId, string? Type)> EventsOf(string topic, IReadOnlyCollection<string> orders) =>
        DlqCommand.Read(host.KafkaClients, [topic], CancellationToken.None)
            .Select(m => (OrderId: Encoding.UTF8.GetString(m.Message.Key!), Type: m.EventType))
            .Where(e => orders.Contains(e.OrderId))
            .ToList();
}
