using Microsoft.EntityFrameworkCore;
using OrderFlow.Contracts;
using OrderFlow.Inventory.Data;
using OrderFlow.Inventory.Handlers;
using OrderFlow.Tests.Support;
using static OrderFlow.Tests.Support.Builders;

namespace OrderFlow.Tests.Inventory;

/// <summary>The compensation side of Inventory: <see cref="OrderCancelledHandler"/> and <see cref="PaymentFailedHandler"/>.</summary>
[TestFixture]
public sealed class ReleaseHandlerTests
{
    private readonly FixedClock clock = new();
    private InMemoryStore<InventoryDbContext> store = null!;

    [SetUp]
    public async Task CreateStore()
    {
        store = InMemoryStore.Inventory();
        await store.ApplyAsync((db, _) =>
        {
            db.Stock.AddRange(
                new StockItem { ProductId = "PROD-001", InitialQuantity = 10, Available = 10 },
                new StockItem { ProductId = "PROD-002", InitialQuantity = 5, Available = 5 });
            return Task.CompletedTask;
        });
    }

    [TearDown]
    public void DropStore() => store.Dispose();

    [Test]
    public async Task Handle_WhenOrderCancelledArrives_PutsTheReservedUnitsBackAndEmitsInventoryReleased()
    {
        var orderId = await ReserveAsync(("PROD-001", 3), ("PROD-002", 2));

        var emitted = await CancelAsync(orderId, "user_cancelled");

        Assert.That(await AvailableAsync("PROD-001"), Is.EqualTo(10));
        Assert.That(await AvailableAsync("PROD-002"), Is.EqualTo(5));
        var reservation = await store.ReadAsync(db => db.Reservations.SingleAsync(r => r.OrderId == orderId));
        Assert.That(reservation.Status, Is.EqualTo(ReservationStatus.Released));
        Assert.That(reservation.ReleaseReason, Is.EqualTo("user_cancelled"));
        Assert.That(reservation.ReleasedAt, Is.EqualTo(clock.Now.UtcDateTime));
        var released = emitted.OfType<InventoryReleased>().Single();
        Assert.That(released.ReservationId, Is.EqualTo(reservation.Id));
        Assert.That(released.Reason, Is.EqualTo("user_cancelled"));
        Assert.That((await store.OutboxRowsAsync()).Last(), Is.EqualTo((nameof(InventoryReleased), orderId)));
    }

    [Test]
    public async Task Handle_WhenOrderCancelledArrivesTwice_ReleasesOnce()
    {
        var orderId = await ReserveAsync(("PROD-001", 3));

        await CancelAsync(orderId, "user_cancelled");
        var second = await CancelAsync(orderId, "user_cancelled");

        Assert.That(second, Is.Empty);
        Assert.That(await AvailableAsync("PROD-001"), Is.EqualTo(10));
        Assert.That((await store.OutboxRowsAsync()).Count(r => r.EventType == nameof(InventoryReleased)), Is.EqualTo(1));
    }

    [Test]
    public async Task Handle_WhenPaymentFailedArrives_ReleasesWithReasonPaymentFailed()
    {
        var orderId = await ReserveAsync(("PROD-002", 4));

        var emitted = await PaymentFailedAsync(orderId);

        Assert.That(await AvailableAsync("PROD-002"), Is.EqualTo(5));
        Assert.That(emitted.OfType<InventoryReleased>().Single().Reason, Is.EqualTo("payment_failed"));
    }

    [Test]
    public async Task Handle_WhenPaymentFailedIsFollowedByOrderCancelled_ReleasesOnce()
    {
        var orderId = await ReserveAsync(("PROD-002", 4));

        await PaymentFailedAsync(orderId);
        var afterCancel = await CancelAsync(orderId, "payment_failed");

        Assert.That(afterCancel, Is.Empty);
        Assert.That(await AvailableAsync("PROD-002"), Is.EqualTo(5));
    }

    [Test]
    public async Task Handle_WhenTheOrderHasNoReservation_ChangesNothingAndEmitsNothing()
    {
        OrderCreated rejected = AnOrderCreated().WithItem("PROD-002", 6);
        await store.ApplyAsync((db, outbox) => new OrderCreatedHandler(db, clock).HandleAsync(rejected, outbox, CancellationToken.None));

        var emitted = await CancelAsync(rejected.OrderId, "timed_out");

        Assert.That(emitted, Is.Empty);
        Assert.That(await AvailableAsync("PROD-002"), Is.EqualTo(5));
    }

    [Test]
    public async Task Handle_WhenAReleasedOrderIsCreatedAgainUnderANewEventId_DoesNotReserveAgain()
    {
        OrderCreated order = AnOrderCreated().WithItem("PROD-001", 3);
        await store.ApplyAsync((db, outbox) => new OrderCreatedHandler(db, clock).HandleAsync(order, outbox, CancellationToken.None));
        await CancelAsync(order.OrderId, "user_cancelled");

        var emitted = await store.ApplyAsync((db, outbox) =>
            new OrderCreatedHandler(db, clock).HandleAsync(order with { EventId = IntegrationEvent.NewEventId() }, outbox, CancellationToken.None));

        Assert.That(emitted, Is.Empty);
        Assert.That(await AvailableAsync("PROD-001"), Is.EqualTo(10));
    }

    private async Task<string> ReserveAsync(params (string ProductId, int Quantity)[] lines)
    {
        var builder = AnOrderCreated();
        foreach (var (productId, quantity) in lines) builder.WithItem(productId, quantity);
        OrderCreated order = builder;
        var emitted = await store.ApplyAsync((db, outbox) => new OrderCreatedHandler(db, clock).HandleAsync(order, outbox, CancellationToken.None));
        Assert.That(emitted.Single(), Is.TypeOf<InventoryReserved>(), "the reservation the test starts from");
        return order.OrderId;
    }

    private Task<IReadOnlyList<IntegrationEvent>> CancelAsync(string orderId, string reason) =>
        store.ApplyAsync((db, outbox) => new OrderCancelledHandler(new ReservationRelease(db, clock))
            .HandleAsync(new OrderCancelled { OrderId = orderId, Reason = reason, Timestamp = clock.Now.UtcDateTime }, outbox, CancellationToken.None));

    private Task<IReadOnlyList<IntegrationEvent>> PaymentFailedAsync(string orderId) =>
        store.ApplyAsync((db, outbox) => new PaymentFailedHandler(new ReservationRelease(db, clock))
            .HandleAsync(new PaymentFailed { OrderId = orderId, Amount = 40m, Reason = "card_declined", Timestamp = clock.Now.UtcDateTime }, outbox, CancellationToken.None));

    private Task<int> AvailableAsync(string productId) =>
        store.ReadAsync(async db => (await db.Stock.SingleAsync(s => s.ProductId == productId)).Available);
}
