using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using OrderFlow.Contracts;
using OrderFlow.Messaging;
using OrderFlow.Orders;
using OrderFlow.Orders.Data;
using OrderFlow.Orders.Handlers;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.Orders;

/// <summary>The Orders module's handlers of Inventory and Payment results, on orders placed through <see cref="OrderPlacement"/>.</summary>
[TestFixture]
public sealed class OrderHandlerTests
{
    private readonly FixedClock clock = new();
    private InMemoryStore<OrdersDbContext> store = null!;
    private OrdersOptions options = null!;

    [SetUp]
    public void CreateStore()
    {
        store = InMemoryStore.Orders();
        options = new OrdersOptions();
    }

    [TearDown]
    public void DropStore() => store.Dispose();

    [Test]
    public async Task Handle_WhenInventoryReservedArrives_MovesToInventoryReservedAndKeepsTheReservationId()
    {
        var orderId = await PlaceAsync();

        var emitted = await ReservedAsync(orderId, "RSV-1");

        var order = await LoadAsync(orderId);
        Assert.That(order.Status, Is.EqualTo(OrderStatus.InventoryReserved));
        Assert.That(order.ReservationId, Is.EqualTo("RSV-1"));
        Assert.That(emitted.OfType<OrderStatusChanged>().Single().Status, Is.EqualTo("InventoryReserved"));
        Assert.That((await store.OutboxRowsAsync()).Skip(1), Is.EqualTo(new[] { (nameof(OrderStatusChanged), orderId) }));
    }

    [Test]
    public async Task Handle_WhenInventoryReservedArrivesTwice_TransitionsOnce()
    {
        var orderId = await PlaceAsync();

        await ReservedAsync(orderId, "RSV-1");
        var second = await ReservedAsync(orderId, "RSV-1");

        Assert.That(second, Is.Empty);
        Assert.That(Path(await LoadAsync(orderId)), Is.EqualTo(new[] { "Created", "InventoryReserved" }));
    }

    [Test]
    public async Task Handle_WhenPaymentCompletedArrivesWithoutAHold_MovesToPaidThenCompleted()
    {
        var orderId = await PlaceAsync();
        await ReservedAsync(orderId, "RSV-1");

        var emitted = await PaymentCompletedAsync(orderId, "PAY-1");

        var order = await LoadAsync(orderId);
        Assert.That(order.Status, Is.EqualTo(OrderStatus.Completed));
        Assert.That(order.PaymentId, Is.EqualTo("PAY-1"));
        Assert.That(order.PaidAt, Is.EqualTo(clock.Now.UtcDateTime));
        Assert.That(order.TerminalAt, Is.EqualTo(clock.Now.UtcDateTime));
        Assert.That(Path(order), Is.EqualTo(new[] { "Created", "InventoryReserved", "Paid", "Completed" }));
        Assert.That(emitted.OfType<OrderStatusChanged>().Select(e => (e.Status, e.IsTerminal)), Is.EqualTo(new[] { ("Paid", false), ("Completed", true) }));
        Assert.That((await store.OutboxRowsAsync()).Skip(2), Is.EqualTo(new[] { (nameof(OrderStatusChanged), orderId), (nameof(OrderStatusChanged), orderId) }));
    }

    [Test]
    public async Task Handle_WhenPaymentCompletedArrivesTwice_CompletesOnce()
    {
        var orderId = await PlaceAsync();
        await ReservedAsync(orderId, "RSV-1");

        await PaymentCompletedAsync(orderId, "PAY-1");
        var second = await PaymentCompletedAsync(orderId, "PAY-1");

        Assert.That(second, Is.Empty);
        Assert.That(Path(await LoadAsync(orderId)), Has.Exactly(1).EqualTo("Completed"));
    }

    [Test]
    public async Task Handle_WhenPaymentCompletedOvertakesInventoryReserved_PassesThroughEveryStateAndIgnoresTheLateReservation()
    {
        var orderId = await PlaceAsync();

        var emitted = await PaymentCompletedAsync(orderId, "PAY-1");

        var order = await LoadAsync(orderId);
        Assert.That(order.Status, Is.EqualTo(OrderStatus.Completed));
        Assert.That(Path(order), Is.EqualTo(new[] { "Created", "InventoryReserved", "Paid", "Completed" }));
        Assert.That(emitted.OfType<OrderStatusChanged>().Select(e => e.Status), Is.EqualTo(new[] { "InventoryReserved", "Paid", "Completed" }));
        var rowsBefore = await store.OutboxRowsAsync();
        var versionBefore = order.Version;

        var late = await ReservedAsync(orderId, "RSV-1");

        Assert.That(late, Is.Empty);
        var after = await LoadAsync(orderId);
        Assert.That(after.Status, Is.EqualTo(OrderStatus.Completed));
        Assert.That(Path(after), Is.EqualTo(Path(order)));
        Assert.That(after.Version, Is.EqualTo(versionBefore));
        Assert.That(await store.OutboxRowsAsync(), Is.EqualTo(rowsBefore));
    }

    [Test]
    public async Task Handle_WhenFulfilmentHoldIsPositive_LeavesThePaidOrderInPaid()
    {
        options.FulfilmentHold = TimeSpan.FromMinutes(10);
        var orderId = await PlaceAsync();
        await ReservedAsync(orderId, "RSV-1");

        var emitted = await PaymentCompletedAsync(orderId, "PAY-1");
        var again = await PaymentCompletedAsync(orderId, "PAY-1");

        var order = await LoadAsync(orderId);
        Assert.That(order.Status, Is.EqualTo(OrderStatus.Paid));
        Assert.That(order.IsTerminal, Is.False);
        Assert.That(order.TerminalAt, Is.Null);
        Assert.That(emitted.OfType<OrderStatusChanged>().Single().Status, Is.EqualTo("Paid"));
        Assert.That(again, Is.Empty);
    }

    [Test]
    public async Task Handle_WhenInventoryReservationFailed_RejectsWithTheReasonAndProduct()
    {
        var orderId = await PlaceAsync();

        var emitted = await ReservationFailedAsync(orderId, "insufficient_stock", "PROD-001");

        var order = await LoadAsync(orderId);
        Assert.That(order.Status, Is.EqualTo(OrderStatus.Rejected));
        Assert.That(order.Reason, Is.EqualTo("insufficient_stock: PROD-001"));
        var changed = emitted.OfType<OrderStatusChanged>().Single();
        Assert.That((changed.Status, changed.IsTerminal, changed.Reason), Is.EqualTo(("Rejected", true, "insufficient_stock: PROD-001")));
        Assert.That(emitted.OfType<OrderCancelled>(), Is.Empty);
        Assert.That((await store.OutboxRowsAsync()).Skip(1), Is.EqualTo(new[] { (nameof(OrderStatusChanged), orderId) }));
    }

    [Test]
    public async Task Handle_WhenInventoryReservationFailedArrivesTwice_RejectsOnce()
    {
        var orderId = await PlaceAsync();

        await ReservationFailedAsync(orderId, "unknown_product", "PROD-X");
        var second = await ReservationFailedAsync(orderId, "unknown_product", "PROD-X");

        Assert.That(second, Is.Empty);
        Assert.That(Path(await LoadAsync(orderId)), Is.EqualTo(new[] { "Created", "Rejected" }));
    }

    [Test]
    public async Task Handle_WhenPaymentFailedThenInventoryReleased_RecordsTheFailureThenCancels()
    {
        var orderId = await PlaceAsync();
        await ReservedAsync(orderId, "RSV-1");

        var afterFailed = await PaymentFailedAsync(orderId, "card_declined");
        var failedOrder = await LoadAsync(orderId);
        var afterReleased = await ReleasedAsync(orderId, "payment_failed");

        Assert.That(afterFailed, Is.Empty);
        Assert.That(failedOrder.Status, Is.EqualTo(OrderStatus.InventoryReserved));
        var order = await LoadAsync(orderId);
        Assert.That(order.Status, Is.EqualTo(OrderStatus.Cancelled));
        Assert.That(order.Reason, Is.EqualTo("payment_failed"));
        Assert.That(order.PaymentFailure, Is.EqualTo("card_declined"));
        Assert.That(afterReleased.Select(e => e.GetType()), Is.EqualTo(new[] { typeof(OrderStatusChanged), typeof(OrderCancelled) }));
        Assert.That((await store.OutboxRowsAsync()).Skip(2),
            Is.EqualTo(new[] { (nameof(OrderStatusChanged), orderId), (nameof(OrderCancelled), orderId) }));
    }

    [Test]
    public async Task Handle_WhenTheReleaseOvertakesPaymentFailed_CancelsAndStillRecordsTheFailure()
    {
        var orderId = await PlaceAsync();
        await ReservedAsync(orderId, "RSV-1");

        await ReleasedAsync(orderId, "payment_failed");
        var afterFailed = await PaymentFailedAsync(orderId, "card_declined");

        var order = await LoadAsync(orderId);
        Assert.That(afterFailed, Is.Empty);
        Assert.That(order.Status, Is.EqualTo(OrderStatus.Cancelled));
        Assert.That(order.PaymentFailure, Is.EqualTo("card_declined"));
    }

    [Test]
    public async Task Handle_WhenInventoryReleasedArrivesTwice_CancelsOnce()
    {
        var orderId = await PlaceAsync();
        await ReservedAsync(orderId, "RSV-1");
        await PaymentFailedAsync(orderId, "card_declined");

        await ReleasedAsync(orderId, "payment_failed");
        var second = await ReleasedAsync(orderId, "payment_failed");

        Assert.That(second, Is.Empty);
        Assert.That(Path(await LoadAsync(orderId)), Has.Exactly(1).EqualTo("Cancelled"));
    }

    [Test]
    public async Task Handle_WhenInventoryReleasedArrivesAfterAUserCancellation_ChangesNothing()
    {
        var orderId = await PlaceAsync();
        await ReservedAsync(orderId, "RSV-1");
        await CancelAsync(orderId);
        var rowsBefore = await store.OutboxRowsAsync();

        var emitted = await ReleasedAsync(orderId, OrderReasons.UserCancelled);

        var order = await LoadAsync(orderId);
        Assert.That(emitted, Is.Empty);
        Assert.That(order.Status, Is.EqualTo(OrderStatus.Cancelled));
        Assert.That(order.Reason, Is.EqualTo(OrderReasons.UserCancelled));
        Assert.That(Path(order), Is.EqualTo(new[] { "Created", "InventoryReserved", "Cancelled" }));
        Assert.That(await store.OutboxRowsAsync(), Is.EqualTo(rowsBefore));
    }

    [Test]
    public async Task Handle_WhenPaymentCompletedArrivesAfterAUserCancellation_ChangesNothing()
    {
        var orderId = await PlaceAsync();
        await ReservedAsync(orderId, "RSV-1");
        await CancelAsync(orderId);

        var emitted = await PaymentCompletedAsync(orderId, "PAY-1");

        Assert.That(emitted, Is.Empty);
        Assert.That((await LoadAsync(orderId)).Status, Is.EqualTo(OrderStatus.Cancelled));
    }

    [Test]
    public async Task Handle_WhenInventoryResultsArriveAfterAUserCancellation_ChangeNothing()
    {
        var cancelledBeforeReserved = await PlaceAsync();
        var cancelledBeforeRejected = await PlaceAsync();
        await CancelAsync(cancelledBeforeReserved);
        await CancelAsync(cancelledBeforeRejected);

        var reserved = await ReservedAsync(cancelledBeforeReserved, "RSV-1");
        var failed = await ReservationFailedAsync(cancelledBeforeRejected, "insufficient_stock", "PROD-001");

        Assert.That(reserved, Is.Empty);
        Assert.That(failed, Is.Empty);
        Assert.That((await LoadAsync(cancelledBeforeReserved)).Status, Is.EqualTo(OrderStatus.Cancelled));
        Assert.That((await LoadAsync(cancelledBeforeRejected)).Status, Is.EqualTo(OrderStatus.Cancelled));
    }

    [Test]
    public async Task Cancel_WhenThePaidOrderIsStillHeld_CancelsWithOrderCancelledForTheRefund()
    {
        options.FulfilmentHold = TimeSpan.FromMinutes(10);
        var orderId = await PlaceAsync();
        await ReservedAsync(orderId, "RSV-1");
        await PaymentCompletedAsync(orderId, "PAY-1");

        var result = await CancelAsync(orderId);

        Assert.That(result.Outcome, Is.EqualTo(CancelOutcome.Cancelled));
        Assert.That((await LoadAsync(orderId)).Status, Is.EqualTo(OrderStatus.Cancelled));
        Assert.That((await store.OutboxRowsAsync()).TakeLast(2),
            Is.EqualTo(new[] { (nameof(OrderStatusChanged), orderId), (nameof(OrderCancelled), orderId) }));
    }

    [Test]
    public void Handle_WhenTheOrderIsUnknown_ThrowsAPermanentError()
    {
        Assert.ThrowsAsync<PermanentMessageException>(() => ReservedAsync("ORD-UNKNOWN", "RSV-1"));
    }

    private async Task<string> PlaceAsync()
    {
        await using var db = store.NewContext();
        var placement = new OrderPlacement(db, new OutboxSignal<OrdersDbContext>(), clock);
        var result = await placement.PlaceAsync(new NewOrder("USER-001", [new NewOrderLine("PROD-001", 2, 10m)]), null, CancellationToken.None);
        return result.Order.Id;
    }

    private async Task<CancelResult> CancelAsync(string orderId)
    {
        await using var db = store.NewContext();
        return await new OrderPlacement(db, new OutboxSignal<OrdersDbContext>(), clock).CancelAsync(orderId, CancellationToken.None);
    }

    private Task<IReadOnlyList<IntegrationEvent>> ReservedAsync(string orderId, string reservationId) =>
        store.ApplyAsync((db, outbox) => new InventoryReservedHandler(db, clock)
            .HandleAsync(new InventoryReserved { OrderId = orderId, ReservationId = reservationId, Timestamp = Now }, outbox, CancellationToken.None));

    private Task<IReadOnlyList<IntegrationEvent>> ReservationFailedAsync(string orderId, string reason, string productId) =>
        store.ApplyAsync((db, outbox) => new InventoryReservationFailedHandler(db, clock)
            .HandleAsync(new InventoryReservationFailed { OrderId = orderId, Reason = reason, ProductId = productId, Timestamp = Now }, outbox, CancellationToken.None));

    private Task<IReadOnlyList<IntegrationEvent>> ReleasedAsync(string orderId, string reason) =>
        store.ApplyAsync((db, outbox) => new InventoryReleasedHandler(db, clock)
            .HandleAsync(new InventoryReleased { OrderId = orderId, ReservationId = "RSV-1", Reason = reason, Timestamp = Now }, outbox, CancellationToken.None));

    private Task<IReadOnlyList<IntegrationEvent>> PaymentCompletedAsync(string orderId, string paymentId) =>
        store.ApplyAsync((db, outbox) => new PaymentCompletedHandler(db, clock, Options.Create(options))
            .HandleAsync(new PaymentCompleted { OrderId = orderId, PaymentId = paymentId, Amount = 20m, Timestamp = Now }, outbox, CancellationToken.None));

    private Task<IReadOnlyList<IntegrationEvent>> PaymentFailedAsync(string orderId, string reason) =>
        store.ApplyAsync((db, outbox) => new PaymentFailedHandler(db)
            .HandleAsync(new PaymentFailed { OrderId = orderId, Amount = 20m, Reason = reason, Timestamp = Now }, outbox, CancellationToken.None));

    private DateTime Now => clock.Now.UtcDateTime;

    private Task<Order> LoadAsync(string orderId) => store.ReadAsync(db => db.Orders.SingleAsync(o => o.Id == orderId));

    private static List<string> Path(Order order) => order.History.Select(h => h.To).ToList();
}
