using Microsoft.EntityFrameworkCore;
using OrderFlow.Contracts;
using OrderFlow.Messaging;
using OrderFlow.Orders.Data;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.Orders;

[TestFixture]
public sealed class OrderStateMachineTests
{
    private static readonly DateTime At = new(2026, 1, 15, 10, 30, 0, DateTimeKind.Utc);

    private static readonly Dictionary<OrderStatus, OrderStatus[]> Legal = new()
    {
        [OrderStatus.Created] = [OrderStatus.InventoryReserved, OrderStatus.Rejected, OrderStatus.Cancelled],
        [OrderStatus.InventoryReserved] = [OrderStatus.Paid, OrderStatus.Cancelled],
        [OrderStatus.Paid] = [OrderStatus.Completed, OrderStatus.Cancelled],
        [OrderStatus.Completed] = [],
        [OrderStatus.Rejected] = [],
        [OrderStatus.Cancelled] = [],
    };

    // The shortest legal path from Created to each status, used to put an order in that status.
    private static readonly Dictionary<OrderStatus, OrderStatus[]> PathTo = new()
    {
        [OrderStatus.Created] = [],
        [OrderStatus.InventoryReserved] = [OrderStatus.InventoryReserved],
        [OrderStatus.Paid] = [OrderStatus.InventoryReserved, OrderStatus.Paid],
        [OrderStatus.Completed] = [OrderStatus.InventoryReserved, OrderStatus.Paid, OrderStatus.Completed],
        [OrderStatus.Rejected] = [OrderStatus.Rejected],
        [OrderStatus.Cancelled] = [OrderStatus.Cancelled],
    };

    private InMemoryStore<OrdersDbContext> store = null!;
    private OrdersDbContext db = null!;

    [SetUp]
    public void CreateStore()
    {
        store = InMemoryStore.Orders();
        db = store.NewContext();
    }

    [TearDown]
    public void DropStore()
    {
        db.Dispose();
        store.Dispose();
    }

    private static IEnumerable<TestCaseData> LegalTransitions() =>
        Legal.SelectMany(kv => kv.Value.Select(to => new TestCaseData(kv.Key, to)));

    private static IEnumerable<TestCaseData> IllegalTransitions() =>
        Legal.SelectMany(kv => Enum.GetValues<OrderStatus>().Except(kv.Value).Select(to => new TestCaseData(kv.Key, to)));

    [TestCaseSource(nameof(LegalTransitions))]
    public void MoveTo_WhenTheTransitionIsAllowed_AppliesItAndRecordsItInHistory(OrderStatus from, OrderStatus to)
    {
        var order = OrderIn(from);
        var historyBefore = order.History.Count;
        var outbox = InMemoryStore.OutboxFor(db);

        Assert.That(order.CanMoveTo(to), Is.True);
        order.MoveTo(to, "why", At.AddMinutes(1), outbox);

        Assert.That(order.Status, Is.EqualTo(to));
        Assert.That(order.History, Has.Count.EqualTo(historyBefore + 1));
        var last = order.History[^1];
        Assert.That((last.From, last.To, last.Reason, last.At), Is.EqualTo((from.ToString(), to.ToString(), "why", At.AddMinutes(1))));
        var changed = outbox.Added.OfType<OrderStatusChanged>().Single();
        Assert.That((changed.PreviousStatus, changed.Status, changed.IsTerminal), Is.EqualTo((from.ToString(), to.ToString(), Order.IsTerminalStatus(to))));
    }

    [TestCaseSource(nameof(IllegalTransitions))]
    public void MoveTo_WhenTheTransitionIsIllegal_ThrowsAndChangesNeitherStatusNorHistory(OrderStatus from, OrderStatus to)
    {
        var order = OrderIn(from);
        var history = order.History.Select(h => (h.From, h.To)).ToList();
        var (reason, version, updatedAt) = (order.Reason, order.Version, order.UpdatedAt);
        var outbox = InMemoryStore.OutboxFor(db);

        Assert.That(order.CanMoveTo(to), Is.False);
        Assert.Throws<IllegalTransitionException>(() => order.MoveTo(to, "nope", At.AddHours(1), outbox));

        Assert.That(order.Status, Is.EqualTo(from));
        Assert.That(order.History.Select(h => (h.From, h.To)), Is.EqualTo(history));
        Assert.That((order.Reason, order.Version, order.UpdatedAt), Is.EqualTo((reason, version, updatedAt)));
        Assert.That(outbox.Added, Is.Empty);
    }

    [Test]
    public void MoveTo_AlongTheHappyPath_EndsCompletedWithPaidAndTerminalTimes()
    {
        var order = OrderIn(OrderStatus.Created);
        var outbox = InMemoryStore.OutboxFor(db);

        order.MoveTo(OrderStatus.InventoryReserved, null, At.AddSeconds(1), outbox);
        order.MoveTo(OrderStatus.Paid, null, At.AddSeconds(2), outbox);
        Assert.That(order.IsTerminal, Is.False);
        order.MoveTo(OrderStatus.Completed, null, At.AddSeconds(3), outbox);

        Assert.That(order.IsTerminal, Is.True);
        Assert.That(order.History.Select(h => h.To), Is.EqualTo(new[] { "Created", "InventoryReserved", "Paid", "Completed" }));
        Assert.That(order.PaidAt, Is.EqualTo(At.AddSeconds(2)));
        Assert.That(order.TerminalAt, Is.EqualTo(At.AddSeconds(3)));
        Assert.That(order.Version, Is.EqualTo(3));
        Assert.That(outbox.Added.Select(e => e.GetType()), Is.All.EqualTo(typeof(OrderStatusChanged)));
        Assert.That(outbox.Added.Select(e => e.OrderId), Is.All.EqualTo(order.Id));
    }

    [TestCase(OrderStatus.Created)]
    [TestCase(OrderStatus.InventoryReserved)]
    [TestCase(OrderStatus.Paid)]
    public void MoveTo_WhenCancelling_AlsoEmitsOrderCancelledWithTheReason(OrderStatus from)
    {
        var order = OrderIn(from);
        var outbox = InMemoryStore.OutboxFor(db);

        order.MoveTo(OrderStatus.Cancelled, OrderReasons.TimedOut, At.AddMinutes(5), outbox);

        Assert.That(order.Reason, Is.EqualTo(OrderReasons.TimedOut));
        Assert.That(order.TerminalAt, Is.EqualTo(At.AddMinutes(5)));
        Assert.That(outbox.Added.Select(e => e.GetType()), Is.EqualTo(new[] { typeof(OrderStatusChanged), typeof(OrderCancelled) }));
        Assert.That(outbox.Added.OfType<OrderCancelled>().Single().Reason, Is.EqualTo(OrderReasons.TimedOut));
    }

    [Test]
    public void MoveTo_WhenRejecting_RecordsTheReasonAndEmitsNoOrderCancelled()
    {
        var order = OrderIn(OrderStatus.Created);
        var outbox = InMemoryStore.OutboxFor(db);

        order.MoveTo(OrderStatus.Rejected, "unknown_product: PROD-X", At, outbox);

        Assert.That(order.Reason, Is.EqualTo("unknown_product: PROD-X"));
        Assert.That(outbox.Added.Single(), Is.TypeOf<OrderStatusChanged>());
    }

    [Test]
    public async Task MoveTo_WhenSaved_KeepsStatusAndHistoryThroughTheStore()
    {
        var order = OrderIn(OrderStatus.Paid);
        db.Orders.Add(order);
        await db.SaveChangesAsync();

        var stored = await store.ReadAsync(other => other.Orders.SingleAsync(o => o.Id == order.Id));

        Assert.That(stored.Status, Is.EqualTo(OrderStatus.Paid));
        Assert.That(stored.History.Select(h => (h.From, h.To)),
            Is.EqualTo(new[] { ("", "Created"), ("Created", "InventoryReserved"), ("InventoryReserved", "Paid") }));
        Assert.That(await db.OutboxMessages.CountAsync(m => m.Key == order.Id && m.EventType == nameof(OrderStatusChanged)), Is.EqualTo(2));
    }

    private Order OrderIn(OrderStatus status)
    {
        var order = new Order
        {
            Id = "ORD-" + Guid.NewGuid().ToString("N")[..12].ToUpperInvariant(),
            UserId = "USER-001",
            TotalAmount = 20m,
            Items = [new OrderLine { ProductId = "PROD-001", Quantity = 2, Price = 10m }],
            TraceParent = Tracing.NewTraceParent(),
            CreatedAt = At,
            UpdatedAt = At,
        };
        order.History.Add(new OrderTransition { From = "", To = nameof(OrderStatus.Created), At = At });
        var outbox = InMemoryStore.OutboxFor(db);
        foreach (var step in PathTo[status]) order.MoveTo(step, null, At, outbox);
        return order;
    }
}
