using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;
using OrderFlow.Contracts;
using OrderFlow.Notification.Data;
using OrderFlow.Notification.Handlers;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.Notification;

[TestFixture]
public sealed class OrderStatusChangedHandlerTests
{
    private readonly FixedClock clock = new();
    private InMemoryStore<NotificationDbContext> store = null!;

    [SetUp]
    public void CreateStore() => store = InMemoryStore.Notification();

    [TearDown]
    public void DropStore() => store.Dispose();

    [TestCase("Completed", null, "Your order ORD-N1 is confirmed. Amount charged: 42.50.")]
    [TestCase("Rejected", "insufficient_stock: PROD-001", "Sorry, we could not accept order ORD-N1 (insufficient_stock: PROD-001).")]
    [TestCase("Cancelled", "payment_failed", "Your order ORD-N1 was cancelled (payment_failed). Any reserved stock was released and any charge refunded.")]
    public async Task Handle_WhenTheOrderReachesATerminalStatus_NotifiesTheCustomerOnce(string status, string? reason, string message)
    {
        var emitted = await HandleAsync(Changed("ORD-N1", "Paid", status, reason));

        var notification = (await NotificationsAsync("ORD-N1")).Single();
        Assert.That(notification.Outcome, Is.EqualTo(status));
        Assert.That(notification.UserId, Is.EqualTo("USER-007"));
        Assert.That(notification.Message, Is.EqualTo(message));
        Assert.That(notification.SentAt, Is.EqualTo(clock.Now.UtcDateTime));
        var sent = emitted.OfType<NotificationSent>().Single();
        Assert.That(sent.NotificationId, Is.EqualTo(notification.Id));
        Assert.That(sent.Outcome, Is.EqualTo(status));
        Assert.That(await store.OutboxRowsAsync(), Is.EqualTo(new[] { (nameof(NotificationSent), "ORD-N1") }));
    }

    [TestCase("Created", "InventoryReserved")]
    [TestCase("InventoryReserved", "Paid")]
    public async Task Handle_WhenTheStatusChangeIsNotTerminal_CreatesNoNotification(string from, string to)
    {
        var emitted = await HandleAsync(Changed("ORD-N2", from, to, null));

        Assert.That(emitted, Is.Empty);
        Assert.That(await NotificationsAsync("ORD-N2"), Is.Empty);
        Assert.That(await store.OutboxRowsAsync(), Is.Empty);
    }

    [Test]
    public async Task Handle_WhenTheSameTerminalChangeArrivesUnderTwoEventIds_NotifiesOnce()
    {
        var completed = Changed("ORD-N3", "Paid", "Completed", null);

        await HandleAsync(completed);
        var second = await HandleAsync(completed with { EventId = IntegrationEvent.NewEventId() });

        Assert.That(second, Is.Empty);
        Assert.That(await NotificationsAsync("ORD-N3"), Has.Count.EqualTo(1));
        Assert.That(await store.OutboxRowsAsync(), Has.Count.EqualTo(1));
    }

    [Test]
    public async Task Handle_WhenTwoDifferentTerminalChangesArrive_NotifiesOnlyTheFirst()
    {
        await HandleAsync(Changed("ORD-N4", "Paid", "Completed", null));
        var second = await HandleAsync(Changed("ORD-N4", "Paid", "Cancelled", "user_cancelled"));

        Assert.That(second, Is.Empty);
        Assert.That((await NotificationsAsync("ORD-N4")).Single().Outcome, Is.EqualTo("Completed"));
    }

    [Test]
    public async Task Handle_WhenNonTerminalChangesPrecedeTheTerminalOne_NotifiesOnceForTheOutcome()
    {
        await HandleAsync(Changed("ORD-N5", "Created", "InventoryReserved", null));
        await HandleAsync(Changed("ORD-N5", "InventoryReserved", "Paid", null));
        await HandleAsync(Changed("ORD-N5", "Paid", "Completed", null));

        Assert.That((await NotificationsAsync("ORD-N5")).Single().Outcome, Is.EqualTo("Completed"));
    }

    [Test]
    public async Task Handle_WhenDifferentOrdersEndAtOnce_NotifiesEachOrder()
    {
        await HandleAsync(Changed("ORD-N6", "Paid", "Completed", null));
        await HandleAsync(Changed("ORD-N7", "Created", "Rejected", "unknown_product: PROD-X"));

        Assert.That(await store.ReadAsync(db => db.Notifications.CountAsync()), Is.EqualTo(2));
    }

    private Task<IReadOnlyList<IntegrationEvent>> HandleAsync(OrderStatusChanged evt) =>
        store.ApplyAsync((db, outbox) => new OrderStatusChangedHandler(db, clock, NullLogger<OrderStatusChangedHandler>.Instance)
            .HandleAsync(evt, outbox, CancellationToken.None));

    private Task<List<CustomerNotification>> NotificationsAsync(string orderId) =>
        store.ReadAsync(db => db.Notifications.Where(n => n.OrderId == orderId).ToListAsync());

    private OrderStatusChanged Changed(string orderId, string from, string to, string? reason) => new()
    {
        OrderId = orderId,
        UserId = "USER-007",
        PreviousStatus = from,
        Status = to,
        Reason = reason,
        TotalAmount = 42.50m,
        IsTerminal = to is "Completed" or "Rejected" or "Cancelled",
        Timestamp = clock.Now.UtcDateTime,
    };
}
