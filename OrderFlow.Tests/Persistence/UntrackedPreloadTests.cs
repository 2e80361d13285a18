using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OrderFlow.Inventory.Data;
using OrderFlow.Messaging;
using OrderFlow.Orders.Data;
using OrderFlow.Persistence;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.Persistence;

/// <summary>
/// A batch's rows read without EF Core's change tracking (<c>PreloadUntracked</c>, the Orders and
/// Payment consumers) are written as tracked rows would be: the columns that changed, the
/// concurrency token checked against the value read, by the consumers' writer and by EF Core's
/// <c>SaveChanges</c> alike.
/// </summary>
[TestFixture]
public sealed class UntrackedPreloadTests
{
    private static readonly DateTime At = new(2026, 1, 15, 10, 30, 0, 123, DateTimeKind.Utc);

    private static readonly Func<ModuleDbContext, IReadOnlySet<string>, CancellationToken, Task> OrdersPreload =
        new ServiceCollection().AddEventConsumer<OrdersDbContext>("orders", "payment-events")
            .PreloadUntracked((OrdersDbContext db, IReadOnlySet<string> orderIds) => db.Orders.Where(o => orderIds.Contains(o.Id)))
            .Registration.Preload!;

    public enum Save { TrackedBySaveChanges, UntrackedByTheWriter, UntrackedBySaveChanges }

    [Test]
    public async Task Transitions_OfOrdersReadUntracked_LeaveTheRowsTrackedOnesLeave()
    {
        var rows = new Dictionary<Save, (List<string[]> Orders, List<string[]> Outbox)>();
        foreach (var save in Enum.GetValues<Save>())
        {
            using var store = await StoreWithOrdersAsync("ORD-1", "ORD-2");
            await using (var db = store.NewContext())
            {
                var order = await FindAsync(db, save, "ORD-1");
                order.ReservationId = "RSV-1";
                var outbox = new Outbox(db, null, At);
                order.MoveTo(OrderStatus.InventoryReserved, null, At.AddSeconds(1), outbox);
                order.MoveTo(OrderStatus.Paid, null, At.AddSeconds(2), outbox);
                // ORD-2 is read and left as it was.
                await FindAsync(db, save, "ORD-2");
                if (save != Save.TrackedBySaveChanges)
                    Assert.That(db.ChangeTracker.Entries<Order>(), Is.Empty, "the preload tracks no order");
                await SaveAsync(db, byWriter: save == Save.UntrackedByTheWriter);
            }
            rows[save] = (store.Rows("orders_orders"), store.Rows("orders_outbox", "event_id", "payload", "traceparent"));
        }

        var saved = rows[Save.UntrackedByTheWriter].Orders;
        Assert.Multiple(() =>
        {
            Assert.That(rows[Save.UntrackedByTheWriter], Is.EqualTo(rows[Save.TrackedBySaveChanges]));
            Assert.That(rows[Save.UntrackedBySaveChanges], Is.EqualTo(rows[Save.TrackedBySaveChanges]));
            Assert.That(saved[0], Has.Some.StartsWith("Paid "));
            Assert.That(saved[0], Has.Some.Contains("\"to\":\"Paid\""), "the history with its appended transitions is written");
            Assert.That(saved[1], Has.Some.StartsWith("Created "));
        });
    }

    [Test]
    public async Task Save_OfUntrackedRowsThatDidNotChange_WritesNothingAndRaisesNoSaving()
    {
        using var store = await StoreWithOrdersAsync("ORD-1");
        await using var db = store.NewContext();
        await FindAsync(db, Save.UntrackedByTheWriter, "ORD-1");
        var saving = 0;
        db.Saving += () => saving++;

        await SaveAsync(db, byWriter: true);

        Assert.That(saving, Is.Zero);
    }

    [Test]
    public async Task Save_WhenAnUntrackedOrderChangedSinceTheRead_FailsOnItsVersionAndWritesNothing()
    {
        using var store = await StoreWithOrdersAsync("ORD-1");
        await using var db = store.NewContext();
        var order = await FindAsync(db, Save.UntrackedByTheWriter, "ORD-1");
        order.MoveTo(OrderStatus.InventoryReserved, null, At.AddSeconds(1), new Outbox(db, null, At));
        await store.ReadAsync(other => other.Database.ExecuteSqlRawAsync("UPDATE orders_orders SET version = version + 1, reason = 'other'"));

        await using (var transaction = await db.Database.BeginTransactionAsync())
        {
            using var statements = new StatementCache(db);
            var failure = Assert.ThrowsAsync<DbUpdateConcurrencyException>(() => TrackedChangesWriter.SaveAsync(statements, CancellationToken.None));
            Assert.That(failure!.Message, Does.Contain("orders_orders").And.Contain("ORD-1"));
        }

        var stored = await store.ReadAsync(d => d.Orders.AsNoTracking().SingleAsync());
        Assert.That((stored.Status, stored.Reason, stored.Version), Is.EqualTo((OrderStatus.Created, "other", 1)));
    }

    [Test]
    public async Task Save_OfAnUntrackedOrderAgainInTheSameContext_WritesOnlyTheSecondChangeOnTheNewVersion()
    {
        using var store = await StoreWithOrdersAsync("ORD-1");
        await using var db = store.NewContext();
        var order = await FindAsync(db, Save.UntrackedByTheWriter, "ORD-1");
        order.MoveTo(OrderStatus.InventoryReserved, null, At.AddSeconds(1), new Outbox(db, null, At));
        await SaveAsync(db, byWriter: true);
        var saving = 0;
        db.Saving += () => saving++;

        await SaveAsync(db, byWriter: true);
        order.MoveTo(OrderStatus.Paid, null, At.AddSeconds(2), new Outbox(db, null, At));
        await SaveAsync(db, byWriter: true);

        var stored = await store.ReadAsync(d => d.Orders.AsNoTracking().SingleAsync());
        Assert.Multiple(() =>
        {
            Assert.That(saving, Is.EqualTo(1), "the first change was accepted: saving again writes nothing");
            Assert.That((stored.Status, stored.Version), Is.EqualTo((OrderStatus.Paid, 2)));
        });
    }

    [Test]
    public async Task FindOfOrder_AfterAnUntrackedPreload_FindsTheRowsWithoutAQuery_AndTheirOriginalValues()
    {
        using var store = await StoreWithOrdersAsync("ORD-1");
        await using var db = store.NewContext();
        await OrdersPreload(db, new HashSet<string> { "ORD-1", "ORD-9" }, CancellationToken.None);
        db.MarkPreloaded(new HashSet<string> { "ORD-1", "ORD-9" });

        var found = await db.FindOfOrderAsync<Order>("ORD-1", o => o.Id == "ORD-1", _ => throw new AssertionException("no query"), CancellationToken.None);
        var compared = 0;
        var missing = await db.FindOfOrderAsync<Order>("ORD-9", o => ++compared > 0 && o.Id == "ORD-9", _ => throw new AssertionException("no query"), CancellationToken.None);
        found!.MoveTo(OrderStatus.Rejected, "out of stock", At.AddSeconds(1), new Outbox(db, null, At));

        Assert.Multiple(() =>
        {
            Assert.That(found.Status, Is.EqualTo(OrderStatus.Rejected));
            Assert.That(missing, Is.Null, "a preloaded order without a row has none");
            Assert.That(compared, Is.Zero, "a miss in the index of rows by order is not followed by a scan");
            Assert.That(db.LoadedRows<Order>(nameof(Order.Status)).Select(r => (r.Row.Id, r.Original)), Is.EqualTo(new[] { ("ORD-1", (object?)OrderStatus.Created) }));
        });
    }

    [Test]
    public async Task UntrackedPreload_OfRowsWithNavigations_TracksThem()
    {
        using var store = InMemoryStore.Inventory();
        await store.ApplyAsync((db, _) =>
        {
            db.Reservations.Add(new Reservation
            {
                Id = "RSV-1", OrderId = "ORD-1", Status = ReservationStatus.Reserved, CreatedAt = At,
                Lines = [new ReservationLine { ProductId = "PROD-001", Quantity = 2 }],
            });
            return Task.CompletedTask;
        });
        var preload = new ServiceCollection().AddEventConsumer<InventoryDbContext>("inventory", "order-events")
            .PreloadUntracked((InventoryDbContext db, IReadOnlySet<string> orderIds) => db.Reservations.Include(r => r.Lines).Where(r => orderIds.Contains(r.OrderId)))
            .Registration.Preload!;
        await using var db = store.NewContext();

        await preload(db, new HashSet<string> { "ORD-1" }, CancellationToken.None);

        Assert.That(db.ChangeTracker.Entries<Reservation>().Select(e => (e.Entity.Id, e.State)), Is.EqualTo(new[] { ("RSV-1", EntityState.Unchanged) }));
        Assert.That(db.LoadedRows<Reservation>(nameof(Reservation.Status)), Is.Empty);
    }

    private static async Task<InMemoryStore<OrdersDbContext>> StoreWithOrdersAsync(params string[] ids)
    {
        var store = InMemoryStore.Orders();
        await store.ApplyAsync((db, _) =>
        {
            foreach (var id in ids) db.Orders.Add(TrackedChangesWriterTests.NewOrder(id));
            return Task.CompletedTask;
        });
        return store;
    }

    private static async Task<Order> FindAsync(OrdersDbContext db, Save save, string id)
    {
        if (save == Save.TrackedBySaveChanges) return (await db.Orders.FindAsync(id))!;
        await OrdersPreload(db, new HashSet<string> { id }, CancellationToken.None);
        db.MarkPreloaded(new HashSet<string> { id });
        return (await db.FindOfOrderAsync<Order>(id, o => o.Id == id, _ => throw new AssertionException("no query"), CancellationToken.None))!;
    }

    private static Task SaveAsync(ModuleDbContext db, bool byWriter) => TrackedChangesWriterTests.SaveAsync(db, byWriter);
}
