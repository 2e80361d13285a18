using System.Net;
using System.Text;
using Confluent.Kafka;
using Microsoft.EntityFrameworkCore;
using OrderFlow.Contracts;
using OrderFlow.Host.Cli;
using OrderFlow.Inventory.Data;
using OrderFlow.Messaging;
using OrderFlow.Notification.Data;
using OrderFlow.Payment.Data;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.EndToEnd;

/// <summary>SPEC §4's compensations, the saga deadline and refused transitions, through real Kafka messages.</summary>
[TestFixture]
public sealed class CompensationTests
{
    [Test]
    public async Task Cancel_WhenTheOrderIsPaid_RefundsReleasesAndCancelsWithOneNotification()
    {
        await using var host = await TestHost.StartAsync(new Dictionary<string, string?>
        {
            ["OrderFlow:Modules:Orders:FulfilmentHold"] = "01:00:00",
        });
        var before = await AvailableAsync(host, "PROD-001");
        var orderId = await host.PlaceOrderAsync("USER-101", ("PROD-001", 3, 12.50m));
        await host.WaitForStatusAsync(orderId, "Paid");

        var response = await host.Http.PostAsync($"/orders/{orderId}/cancel", null);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Accepted));
        var order = await host.WaitForStatusAsync(orderId, "Cancelled");
        Assert.That(order.GetProperty("reason").GetString(), Is.EqualTo("user_cancelled"));
        await Eventually.Until(async () =>
        {
            await using var scope = host.Scope();
            var ledger = await scope.ServiceProvider.GetRequiredService<PaymentDbContext>().Ledger.AsNoTracking().Where(e => e.OrderId == orderId).ToListAsync();
            return ledger.Count(e => e.Kind == LedgerKind.Charge) == 1 && ledger.Count(e => e.Kind == LedgerKind.Refund) == 1;
        }, "one charge and one refund of it");
        await Eventually.Until(async () => await AvailableAsync(host, "PROD-001") == before, "the reserved units to be back in stock");
        await Eventually.Until(async () => await NotificationsAsync(host, orderId) == "Cancelled", "exactly one Cancelled notification");
        await host.AssertInvariantsEventuallyHoldAsync();
    }

    [Test]
    public async Task Cancel_WhenTheOrderWaitsForPayment_ReleasesStockAndNeverCharges()
    {
        await using var host = await TestHost.StartAsync(new Dictionary<string, string?> { ["OrderFlow:Modules:Payment:Enabled"] = "false" });
        var before = await AvailableAsync(host, "PROD-002");
        var orderId = await host.PlaceOrderAsync("USER-102", ("PROD-002", 2, 7m));
        await host.WaitForStatusAsync(orderId, "InventoryReserved");
        Assert.That(await AvailableAsync(host, "PROD-002"), Is.EqualTo(before - 2));

        await host.Http.PostAsync($"/orders/{orderId}/cancel", null);

        await host.WaitForStatusAsync(orderId, "Cancelled");
        await Eventually.Until(async () => await AvailableAsync(host, "PROD-002") == before, "the reserved units to be back in stock");
        await Eventually.Until(async () => await NotificationsAsync(host, orderId) == "Cancelled", "exactly one Cancelled notification");
    }

    [Test]
    public async Task Saga_WhenAnOrderOutlivesItsDeadline_CancelsItAndReleasesItsStock()
    {
        await using var host = await TestHost.StartAsync(new Dictionary<string, string?>
        {
            ["OrderFlow:Modules:Payment:Enabled"] = "false",
            ["OrderFlow:Modules:Orders:SagaTimeout"] = "00:00:02",
        });
        var before = await AvailableAsync(host, "PROD-003");
        var orderId = await host.PlaceOrderAsync("USER-103", ("PROD-003", 1, 1m));
        await host.WaitForStatusAsync(orderId, "InventoryReserved");

        var order = await host.WaitForStatusAsync(orderId, "Cancelled", TimeSpan.FromSeconds(15));

        Assert.That(order.GetProperty("reason").GetString(), Is.EqualTo("timed_out"));
        await Eventually.Until(async () => await AvailableAsync(host, "PROD-003") == before, "the stock of the timed-out order released");
        await Eventually.Until(async () => await NotificationsAsync(host, orderId) == "Cancelled", "exactly one Cancelled notification");
    }

    [Test]
    public async Task Event_WhenItDemandsAnIllegalTransition_IsRefusedDeadLetteredAndChangesNothing()
    {
        await using var host = await TestHost.StartAsync(new Dictionary<string, string?> { ["OrderFlow:Modules:Payment:Enabled"] = "false" });
        var orderId = await host.PlaceOrderAsync("USER-104", ("PROD-001", 1, 1m));
        await host.WaitForStatusAsync(orderId, "InventoryReserved");
        var contradiction = new InventoryReservationFailed { OrderId = orderId, Reason = "insufficient_stock", ProductId = "PROD-001", Timestamp = DateTime.UtcNow };

        await PublishAsync(host, contradiction);

        var letter = await Eventually.Value(() => Task.FromResult(DlqCommand.Read(host.KafkaClients, [Topics.DeadLetter(Topics.InventoryEvents)], CancellationToken.None)
            .FirstOrDefault(l => l.EventId == contradiction.EventId)), l => l is not null, "the contradicting event in inventory-events.dlq");
        Assert.That(letter!.Error, Does.Contain("IllegalTransitionException").And.Contain("cannot move from InventoryReserved to Rejected"));
        var order = await host.GetOrderAsync(orderId);
        Assert.That(order.GetProperty("status").GetString(), Is.EqualTo("InventoryReserved"));
        Assert.That(order.GetProperty("history").GetArrayLength(), Is.EqualTo(2));
    }

    private static async Task PublishAsync(TestHost host, IntegrationEvent evt)
    {
        using var producer = new ProducerBuilder<string, byte[]>(new ProducerConfig { BootstrapServers = host.Broker!.BootstrapServers }).Build();
        await producer.ProduceAsync(EventCatalog.TopicOf(evt.GetType()), new Message<string, byte[]>
        {
            Key = evt.OrderId,
            Value = EventJson.Serialize(evt),
            Headers = new Headers { { HeaderNames.EventType, Encoding.UTF8.GetBytes(evt.EventType) }, { HeaderNames.EventVersion, "1"u8.ToArray() } },
        });
    }

    private static async Task<int> AvailableAsync(TestHost host, string productId)
    {
        await using var scope = host.Scope();
        return (await scope.ServiceProvider.GetRequiredService<InventoryDbContext>().Stock.AsNoTracking().SingleAsync(s => s.ProductId == productId)).Available;
    }

    /// <summary>The outcome of the order's only notification; "" for none, "many" for more than one.</summary>
    private static async Task<string> NotificationsAsync(TestHost host, string orderId)
    {
        await using var scope = host.Scope();
        var notes = await scope.ServiceProvider.GetRequiredService<NotificationDbContext>().Notifications.AsNoTracking().Where(n => n.OrderId == orderId).ToListAsync();
        return notes.Count switch { 0 => "", 1 => notes[0].Outcome, _ => "many" };
    }
}
