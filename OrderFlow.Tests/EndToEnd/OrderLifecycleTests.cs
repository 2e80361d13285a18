using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using OrderFlow.Inventory.Data;
using OrderFlow.Notification.Data;
using OrderFlow.Payment.Data;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.EndToEnd;

/// <summary>Every path of SPEC §4 through the real host, real Kafka messages and the real store.</summary>
[TestFixture]
public sealed class OrderLifecycleTests
{
    private TestHost host = null!;

    [OneTimeSetUp]
    public async Task StartHost() => host = await TestHost.StartAsync(new Dictionary<string, string?>
    {
        ["OrderFlow:Modules:Inventory:Catalog:PROD-001"] = "1000",
        ["OrderFlow:Modules:Inventory:Catalog:PROD-002"] = "1000",
        ["OrderFlow:Modules:Inventory:Catalog:PROD-SCARCE"] = "3",
        ["OrderFlow:Modules:Payment:DeclineAbove"] = "5000",
    });

    [OneTimeTearDown]
    public async Task StopHost() => await host.DisposeAsync();

    [Test]
    public async Task Order_WhenStockAndPaymentSucceed_CompletesWithOneChargeAndOneNotification()
    {
        var orderId = await host.PlaceOrderAsync("USER-001", ("PROD-001", 2, 99.99m), ("PROD-002", 1, 5.50m));

        var order = await host.WaitForStatusAsync(orderId, "Completed");

        Assert.That(order.GetProperty("total_amount").GetDecimal(), Is.EqualTo(205.48m));
        var path = order.GetProperty("history").EnumerateArray().Select(h => h.GetProperty("to").GetString()).ToList();
        Assert.That(path, Is.EqualTo(new[] { "Created", "InventoryReserved", "Paid", "Completed" }));
        await WaitForNotificationAsync(orderId, "Completed");
        await using var scope = host.Scope();
        var payment = scope.ServiceProvider.GetRequiredService<PaymentDbContext>();
        Assert.That(await payment.Ledger.CountAsync(e => e.OrderId == orderId && e.Kind == LedgerKind.Charge), Is.EqualTo(1));
    }

    [Test]
    public async Task Order_WhenStockIsInsufficient_IsRejectedAndStockIsUntouched()
    {
        var orderId = await host.PlaceOrderAsync("USER-002", ("PROD-SCARCE", 4, 1m));

        var order = await host.WaitForStatusAsync(orderId, "Rejected");

        Assert.That(order.GetProperty("reason").GetString(), Is.EqualTo("insufficient_stock: PROD-SCARCE"));
        await WaitForNotificationAsync(orderId, "Rejected");
        Assert.That(await AvailableAsync("PROD-SCARCE"), Is.EqualTo(3));
    }

    [Test]
    public async Task Order_WhenAProductIsUnknown_IsRejectedAndNothingIsReserved()
    {
        var before = await AvailableAsync("PROD-001");
        var orderId = await host.PlaceOrderAsync("USER-003", ("PROD-001", 1, 1m), ("PROD-NOPE", 1, 1m));

        var order = await host.WaitForStatusAsync(orderId, "Rejected");

        Assert.That(order.GetProperty("reason").GetString(), Is.EqualTo("unknown_product: PROD-NOPE"));
        Assert.That(await AvailableAsync("PROD-001"), Is.EqualTo(before));
    }

    [Test]
    public async Task Order_WhenPaymentIsDeclined_ReleasesStockThenCancels()
    {
        var before = await AvailableAsync("PROD-002");
        var orderId = await host.PlaceOrderAsync("USER-004", ("PROD-002", 2, 3000m));

        var order = await host.WaitForStatusAsync(orderId, "Cancelled");

        Assert.That(order.GetProperty("reason").GetString(), Is.EqualTo("payment_failed"));
        Assert.That(order.GetProperty("payment_failure").GetString(), Is.EqualTo("amount_above_limit"));
        Assert.That(await AvailableAsync("PROD-002"), Is.EqualTo(before));
        await using var scope = host.Scope();
        var inventory = scope.ServiceProvider.GetRequiredService<InventoryDbContext>();
        var reservation = await inventory.Reservations.SingleAsync(r => r.OrderId == orderId);
        Assert.That(reservation.Status, Is.EqualTo(ReservationStatus.Released));
        await WaitForNotificationAsync(orderId, "Cancelled");
    }

    [Test]
    public async Task Order_WithCurrencyAndShippingAddress_IsAnnouncedAsVersion2AndCompletes()
    {
        var response = await host.Http.PostAsJsonAsync("/orders", new
        {
            user_id = "USER-V2",
            currency = "EUR",
            shipping_address = new { line1 = "1 Main Street", city = "Berlin", postal_code = "10115", country = "DE" },
            items = new[] { new { product_id = "PROD-001", quantity = 1, price = 19.99m } },
        });
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Accepted), await response.Content.ReadAsStringAsync());
        var orderId = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("order_id").GetString()!;

        var order = await host.WaitForStatusAsync(orderId, "Completed");

        Assert.That(order.GetProperty("currency").GetString(), Is.EqualTo("EUR"));
        Assert.That(order.GetProperty("shipping_address").GetProperty("city").GetString(), Is.EqualTo("Berlin"));
        var created = OrderFlow.Host.Cli.DlqCommand.Read(host.KafkaClients, [OrderFlow.Contracts.Topics.OrderEvents], CancellationToken.None)
            .Single(m => m.EventType == "OrderCreated" && System.Text.Encoding.UTF8.GetString(m.Message.Key!) == orderId);
        using var payload = JsonDocument.Parse(created.Message.Value);
        Assert.That(OrderFlow.Messaging.HeaderNames.GetString(created.Message.Headers, "event_version"), Is.EqualTo("2"));
        Assert.That(payload.RootElement.GetProperty("event_version").GetInt32(), Is.EqualTo(2));
        Assert.That(payload.RootElement.GetProperty("shipping_address").GetProperty("postal_code").GetString(), Is.EqualTo("10115"));
    }

    [Test]
    public async Task Post_WhenCurrencyAndAddressAreMalformed_NamesEachField()
    {
        var response = await host.Http.PostAsJsonAsync("/orders", new
        {
            user_id = "USER-V2",
            currency = "euro",
            shipping_address = new { line1 = "", city = "Berlin", postal_code = "10115", country = "Germany" },
            items = new[] { new { product_id = "PROD-001", quantity = 1, price = 19.99m } },
        });

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        var errors = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("errors");
        Assert.That(errors.EnumerateObject().Select(p => p.Name), Is.EquivalentTo(new[] { "currency", "shipping_address.line1", "shipping_address.country" }));
    }

    [Test]
    public async Task Cancel_WhenOrderIsAlreadyCompleted_IsRefusedWith409()
    {
        var orderId = await host.PlaceOrderAsync("USER-005", ("PROD-001", 1, 1m));
        await host.WaitForStatusAsync(orderId, "Completed");

        var response = await host.Http.PostAsync($"/orders/{orderId}/cancel", null);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Conflict));
        Assert.That(response.Content.Headers.ContentType!.MediaType, Is.EqualTo("application/problem+json"));
        Assert.That(await host.StatusOfAsync(orderId), Is.EqualTo("Completed"));
    }

    [Test]
    public async Task Flow_AfterManyOrders_KeepsEveryInvariant()
    {
        var ids = new List<string>();
        for (var i = 0; i < 20; i++)
            ids.Add(await host.PlaceOrderAsync($"USER-{i:D3}", ("PROD-001", 1 + i % 3, 10m), ("PROD-002", 1, 2000m + i)));
        foreach (var id in ids) await Eventually.Until(async () => (await host.GetOrderAsync(id)).GetProperty("is_terminal").GetBoolean(), $"{id} terminal");

        await host.AssertInvariantsEventuallyHoldAsync();
    }

    private async Task<int> AvailableAsync(string productId)
    {
        await using var scope = host.Scope();
        var inventory = scope.ServiceProvider.GetRequiredService<InventoryDbContext>();
        return (await inventory.Stock.AsNoTracking().SingleAsync(s => s.ProductId == productId)).Available;
    }

    private Task WaitForNotificationAsync(string orderId, string outcome) =>
        Eventually.Until(async () =>
        {
            await using var scope = host.Scope();
            var db = scope.ServiceProvider.GetRequiredService<NotificationDbContext>();
            var notes = await db.Notifications.AsNoTracking().Where(n => n.OrderId == orderId).ToListAsync();
            return notes.Count == 1 && notes[0].Outcome == outcome;
        }, $"exactly one {outcome} notification for {orderId}");
}
