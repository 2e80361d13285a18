using Microsoft.EntityFrameworkCore;
using OrderFlow.Contracts;
using OrderFlow.Inventory.Data;
using OrderFlow.Inventory.Handlers;
using OrderFlow.Tests.Support;
using static OrderFlow.Tests.Support.Builders;

namespace OrderFlow.Tests.Inventory;

[TestFixture]
public sealed class OrderCreatedHandlerTests
{
    private readonly FixedClock clock = new();
    private InMemoryStore<InventoryDbContext> store = null!;

    [SetUp]
    public async Task CreateStore()
    {
        store = InMemoryStore.Inventory();
        await store.ApplyAsync((db, _) =>
        {
            db.Stock.AddRange(Stock("PROD-001", 10), Stock("PROD-002", 5), Stock("PROD-SCARCE", 3));
            return Task.CompletedTask;
        });
    }

    [TearDown]
    public void DropStore() => store.Dispose();

    /// <summary>A rejection is recorded (so a later copy of the event cannot reserve) but holds no stock.</summary>
    private async Task AssertRejectedWithoutStockAsync(string orderId)
    {
        var reservation = await ReservationOfAsync(orderId);
        Assert.That(reservation, Is.Not.Null);
        Assert.That(reservation!.Status, Is.EqualTo(ReservationStatus.Rejected));
        Assert.That(reservation.Lines, Is.Empty);
    }

    [Test]
    public async Task Handle_WhenStockSuffices_ReservesEveryLineAndEmitsInventoryReserved()
    {
        OrderCreated order = AnOrderCreated().WithItem("PROD-001", 2).WithItem("PROD-002", 1);

        var emitted = await HandleAsync(order);

        Assert.That(await AvailableAsync("PROD-001"), Is.EqualTo(8));
        Assert.That(await AvailableAsync("PROD-002"), Is.EqualTo(4));
        var reservation = await ReservationOfAsync(order.OrderId);
        Assert.That(reservation, Is.Not.Null);
        Assert.That(reservation!.Status, Is.EqualTo(ReservationStatus.Reserved));
        Assert.That(reservation.Lines.Select(l => (l.ProductId, l.Quantity)), Is.EquivalentTo(new[] { ("PROD-001", 2), ("PROD-002", 1) }));
        var reserved = emitted.OfType<InventoryReserved>().Single();
        Assert.That(reserved.ReservationId, Is.EqualTo(reservation.Id));
        Assert.That(await store.OutboxRowsAsync(), Is.EqualTo(new[] { (nameof(InventoryReserved), order.OrderId) }));
    }

    [Test]
    public async Task Handle_WhenOrderCreatedArrivesTwice_ReservesStockOnce()
    {
        OrderCreated order = AnOrderCreated().WithItem("PROD-001", 2);

        await HandleAsync(order);
        var second = await HandleAsync(order with { EventId = IntegrationEvent.NewEventId() });

        Assert.That(second, Is.Empty);
        Assert.That(await AvailableAsync("PROD-001"), Is.EqualTo(8));
        Assert.That(await store.ReadAsync(db => db.Reservations.CountAsync()), Is.EqualTo(1));
        Assert.That(await store.OutboxRowsAsync(), Has.Count.EqualTo(1));
    }

    [Test]
    public async Task Handle_WhenTheSameProductIsOnSeveralLines_ReservesTheSumAsOneLine()
    {
        OrderCreated order = AnOrderCreated().WithItem("PROD-002", 2).WithItem("PROD-002", 3);

        await HandleAsync(order);

        Assert.That(await AvailableAsync("PROD-002"), Is.Zero);
        var reservation = await ReservationOfAsync(order.OrderId);
        Assert.That(reservation!.Lines.Select(l => (l.ProductId, l.Quantity)), Is.EqualTo(new[] { ("PROD-002", 5) }));
    }

    [Test]
    public async Task Handle_WhenLinesOfTheSameProductTogetherExceedStock_RejectsAlthoughEachLineFits()
    {
        OrderCreated order = AnOrderCreated().WithItem("PROD-SCARCE", 2).WithItem("PROD-SCARCE", 2);

        var emitted = await HandleAsync(order);

        var failed = emitted.OfType<InventoryReservationFailed>().Single();
        Assert.That(failed.Reason, Is.EqualTo("insufficient_stock"));
        Assert.That(failed.ProductId, Is.EqualTo("PROD-SCARCE"));
        Assert.That(await AvailableAsync("PROD-SCARCE"), Is.EqualTo(3));
    }

    [Test]
    public async Task Handle_WhenOneLineLacksStock_ReservesNoneAndEmitsInsufficientStock()
    {
        OrderCreated order = AnOrderCreated().WithItem("PROD-001", 2).WithItem("PROD-SCARCE", 4);

        var emitted = await HandleAsync(order);

        Assert.That(await AvailableAsync("PROD-001"), Is.EqualTo(10));
        Assert.That(await AvailableAsync("PROD-SCARCE"), Is.EqualTo(3));
        await AssertRejectedWithoutStockAsync(order.OrderId);
        var failed = emitted.OfType<InventoryReservationFailed>().Single();
        Assert.That(failed.Reason, Is.EqualTo("insufficient_stock"));
        Assert.That(failed.ProductId, Is.EqualTo("PROD-SCARCE"));
        Assert.That(failed.Status, Is.EqualTo("failed"));
        Assert.That(await store.OutboxRowsAsync(), Is.EqualTo(new[] { (nameof(InventoryReservationFailed), order.OrderId) }));
    }

    [Test]
    public async Task Handle_WhenAProductIsUnknown_ReservesNoneAndEmitsUnknownProduct()
    {
        OrderCreated order = AnOrderCreated().WithItem("PROD-001", 1).WithItem("PROD-NOPE", 1);

        var emitted = await HandleAsync(order);

        Assert.That(await AvailableAsync("PROD-001"), Is.EqualTo(10));
        await AssertRejectedWithoutStockAsync(order.OrderId);
        var failed = emitted.OfType<InventoryReservationFailed>().Single();
        Assert.That(failed.Reason, Is.EqualTo("unknown_product"));
        Assert.That(failed.ProductId, Is.EqualTo("PROD-NOPE"));
        Assert.That(await store.OutboxRowsAsync(), Is.EqualTo(new[] { (nameof(InventoryReservationFailed), order.OrderId) }));
    }

    [Test]
    public async Task Handle_WhenAnOrderTakesTheLastUnits_LeavesZeroAndRejectsTheNextOrder()
    {
        OrderCreated first = AnOrderCreated().WithItem("PROD-SCARCE", 3);
        OrderCreated second = AnOrderCreated().WithItem("PROD-SCARCE", 1);

        await HandleAsync(first);
        var emitted = await HandleAsync(second);

        Assert.That(await AvailableAsync("PROD-SCARCE"), Is.Zero);
        Assert.That(emitted.Single(), Is.TypeOf<InventoryReservationFailed>());
        await AssertRejectedWithoutStockAsync(second.OrderId);
    }

    [Test]
    public async Task Handle_WhenARejectedOrderArrivesAgainAfterStockWasReleased_StillReservesNothing()
    {
        // The first OrderCreated was rejected, so Orders has made the order terminal: stock held for
        // it now would never be released, and Payment would charge it once InventoryReserved arrives.
        OrderCreated holder = AnOrderCreated().WithItem("PROD-SCARCE", 3);
        OrderCreated rejected = AnOrderCreated().WithItem("PROD-SCARCE", 2);
        await HandleAsync(holder);
        var first = await HandleAsync(rejected);
        Assert.That(first.Single(), Is.TypeOf<InventoryReservationFailed>());
        await store.ApplyAsync((db, outbox) =>
            new ReservationRelease(db, clock).ReleaseAsync(holder.OrderId, "user_cancelled", outbox, CancellationToken.None));

        var again = await HandleAsync(rejected with { EventId = IntegrationEvent.NewEventId() });

        Assert.That(again.OfType<InventoryReserved>(), Is.Empty);
        await AssertRejectedWithoutStockAsync(rejected.OrderId);
        Assert.That(await AvailableAsync("PROD-SCARCE"), Is.EqualTo(3));
    }

    private Task<IReadOnlyList<IntegrationEvent>> HandleAsync(OrderCreated evt) =>
        store.ApplyAsync((db, outbox) => new OrderCreatedHandler(db, clock).HandleAsync(evt, outbox, CancellationToken.None));

    private Task<int> AvailableAsync(string productId) =>
        store.ReadAsync(async db => (await db.Stock.SingleAsync(s => s.ProductId == productId)).Available);

    private Task<Reservation?> ReservationOfAsync(string orderId) =>
        store.ReadAsync(db => db.Reservations.Include(r => r.Lines).SingleOrDefaultAsync(r => r.OrderId == orderId));

    private static StockItem Stock(string productId, int quantity) =>
        new() { ProductId = productId, InitialQuantity = quantity, Available = quantity };
}
