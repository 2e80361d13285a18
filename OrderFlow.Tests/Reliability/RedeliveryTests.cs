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

namespace OrderFlow.Tests.Reliability;

/// <summary>SPEC §8.5 and §9 through the real modules: redelivered and poisonous messages.</summary>
[TestFixture]
public sealed class RedeliveryTests
{
    [Test]
    public async Task Flow_WhenEveryMessageIsDeliveredASecondTime_AppliesEachEffectOnce()
    {
        await using var host = await TestHost.StartAsync();
        var ids = new List<string>();
        for (var i = 0; i < 30; i++) ids.Add(await host.PlaceOrderAsync($"USER-{i}", ("PROD-001", 1, 10m), ("PROD-002", 2, i % 4 == 0 ? 9_000m : 4m)));
        foreach (var id in ids) await Eventually.Until(async () => (await host.GetOrderAsync(id)).GetProperty("is_terminal").GetBoolean(), $"{id} terminal");
        await host.WaitUntilDrainedAsync();
        var before = await EffectsAsync(host);

        var copies = 0;
        using (var producer = new ProducerBuilder<byte[]?, byte[]?>(new ProducerConfig { BootstrapServers = host.Broker!.BootstrapServers }).Build())
        {
            foreach (var letter in DlqCommand.Read(host.KafkaClients, [Topics.OrderEvents, Topics.InventoryEvents, Topics.PaymentEvents], CancellationToken.None))
            {
                await producer.ProduceAsync(letter.Topic, new Message<byte[]?, byte[]?> { Key = letter.Message.Key, Value = letter.Message.Value, Headers = letter.Message.Headers });
                copies++;
            }
        }
        await host.WaitUntilDrainedAsync();

        Assert.That(copies, Is.GreaterThan(30 * 4));
        Assert.That(await EffectsAsync(host), Is.EqualTo(before));
        await host.AssertInvariantsEventuallyHoldAsync();
    }

    [Test]
    public async Task Flow_WhenPoisonOfEveryKindArrives_DeadLettersItAndOtherOrdersComplete()
    {
        await using var host = await TestHost.StartAsync();
        var first = await host.PlaceOrderAsync("USER-1", ("PROD-001", 1, 10m));
        var valid = EventJson.Serialize(new OrderCreated { OrderId = "ORD-POISON", UserId = "U", Items = [new OrderItem("PROD-001", 1, 1m)], TotalAmount = 1m, Timestamp = DateTime.UtcNow });
        var invalid = EventJson.Serialize(new OrderCreated { OrderId = "ORD-POISON", UserId = "U", Items = [], TotalAmount = 0m, Timestamp = DateTime.UtcNow });
        using (var producer = new ProducerBuilder<byte[]?, byte[]?>(new ProducerConfig { BootstrapServers = host.Broker!.BootstrapServers }).Build())
        {
            async Task Send(string key, byte[] value, params (string, string)[] headers)
            {
                var message = new Message<byte[]?, byte[]?> { Key = Encoding.UTF8.GetBytes(key), Value = value, Headers = [] };
                foreach (var (name, v) in headers) message.Headers.Add(name, Encoding.UTF8.GetBytes(v));
                await producer.ProduceAsync(Topics.OrderEvents, message);
            }
            await Send("ORD-POISON", "{not json"u8.ToArray(), ("event_type", "OrderCreated"));
            await Send("ORD-POISON", "{}"u8.ToArray(), ("event_type", "OrderShipped"));
            await Send("ORD-POISON", valid, ("event_type", "OrderCreated"), ("event_version", "7"));
            await Send("ORD-POISON", new byte[100_000], ("event_type", "OrderCreated"));
            await Send("ORD-POISON", invalid, ("event_type", "OrderCreated"));
        }
        var second = await host.PlaceOrderAsync("USER-2", ("PROD-001", 1, 10m));

        await host.WaitForStatusAsync(first, "Completed");
        await host.WaitForStatusAsync(second, "Completed");
        var letters = await Eventually.Value(() => Task.FromResult(DlqCommand.Read(host.KafkaClients, [Topics.DeadLetter(Topics.OrderEvents)], CancellationToken.None)),
            l => l.Select(x => x.Error![..12]).Distinct().Count() >= 5, "every kind of poison in order-events.dlq");
        var inventory = letters.Where(l => l.Message.Headers.GetString(HeaderNames.DlqConsumerGroup) == "orderflow-inventory").Select(l => l.Error!).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(inventory, Has.Some.StartsWith("malformed OrderCreated payload"));
            Assert.That(inventory, Has.Some.EqualTo("unknown event_type 'OrderShipped'"));
            Assert.That(inventory, Has.Some.StartsWith("unsupported event_version 7 of OrderCreated"));
            Assert.That(inventory, Has.Some.StartsWith("oversize message: 100000 bytes"));
            Assert.That(inventory, Has.Some.StartsWith("invalid OrderCreated: an order has at least one item"));
            Assert.That(letters.Select(l => l.SourceTopic), Is.All.EqualTo(Topics.OrderEvents));
            Assert.That(letters.Select(l => l.Attempts), Is.All.EqualTo("1"));
        });
    }

    private static async Task<(int Charges, int Refunds, int Reservations, int Released, int Notifications, int Available)> EffectsAsync(TestHost host)
    {
        await using var scope = host.Scope();
        var payment = scope.ServiceProvider.GetRequiredService<PaymentDbContext>();
        var inventory = scope.ServiceProvider.GetRequiredService<InventoryDbContext>();
        var notification = scope.ServiceProvider.GetRequiredService<NotificationDbContext>();
        return (await payment.Ledger.CountAsync(e => e.Kind == LedgerKind.Charge), await payment.Ledger.CountAsync(e => e.Kind == LedgerKind.Refund),
            await inventory.Reservations.CountAsync(), await inventory.Reservations.CountAsync(r => r.Status == ReservationStatus.Released),
            await notification.Notifications.CountAsync(), await inventory.Stock.SumAsync(s => s.Available));
    }
}
