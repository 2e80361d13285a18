using Microsoft.EntityFrameworkCore;
using OrderFlow.Inventory.Data;
using OrderFlow.Messaging;
using OrderFlow.Orders.Data;
using OrderFlow.Payment.Data;
using OrderFlow.Persistence;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.Persistence;

/// <summary>
/// The consumers' SaveChanges (<see cref="TrackedChangesWriter"/>) must leave exactly the rows EF
/// Core's own SaveChanges leaves, keep EF's concurrency rules, and hand what it cannot write to EF.
/// Each test runs the same unit of work twice, once per writer, on two stores migrated alike.
/// </summary>
[TestFixture]
public sealed class TrackedChangesWriterTests
{
    private static readonly DateTime At = new(2026, 1, 15, 10, 30, 0, 123, DateTimeKind.Utc);

    [Test]
    public async Task Save_OfANewOrderAndItsTransitions_LeavesTheRowsSaveChangesLeaves()
    {
        using var byEf = InMemoryStore.Orders();
        using var byWriter = InMemoryStore.Orders();

        foreach (var (store, useWriter) in new[] { (byEf, false), (byWriter, true) })
        {
            await SaveAsync(store, useWriter, db =>
            {
                db.Orders.Add(NewOrder());
                return Task.CompletedTask;
            });
            await SaveAsync(store, useWriter, async db =>
            {
                var order = (await db.Orders.FindAsync("ORD-1"))!;
                order.ReservationId = "RSV-1";
                order.MoveTo(OrderStatus.InventoryReserved, null, At.AddSeconds(1), new Outbox(db, null, At));
                order.MoveTo(OrderStatus.Paid, null, At.AddSeconds(2), new Outbox(db, null, At));
            });
        }

        Assert.Multiple(() =>
        {
            Assert.That(Rows(byWriter, "orders_orders"), Is.EqualTo(Rows(byEf, "orders_orders")));
            // Event ids, and the payloads that carry them, are new on every run.
            Assert.That(Rows(byWriter, "orders_outbox", "event_id", "payload", "traceparent"), Is.EqualTo(Rows(byEf, "orders_outbox", "event_id", "payload", "traceparent")));
        });
        var saved = await byWriter.ReadAsync(db => db.Orders.AsNoTracking().SingleAsync());
        Assert.Multiple(() =>
        {
            Assert.That(saved.Status, Is.EqualTo(OrderStatus.Paid));
            Assert.That(saved.Version, Is.EqualTo(2));
            Assert.That(saved.History.Select(h => h.To), Is.EqualTo(new[] { "Created", "InventoryReserved", "Paid" }));
            Assert.That(saved.ShippingAddress!.PostalCode, Is.EqualTo("10115"));
            Assert.That(saved.TotalAmount, Is.EqualTo(59.97m));
        });
    }

    [Test]
    public async Task Save_OfOwnedRowsWithGeneratedIds_ContinuesAfterTheHighestIdEverUsed()
    {
        using var byEf = InMemoryStore.Inventory();
        using var byWriter = InMemoryStore.Inventory();

        foreach (var (store, useWriter) in new[] { (byEf, false), (byWriter, true) })
        {
            await SaveAsync(store, useWriter, db =>
            {
                db.Reservations.Add(NewReservation("RSV-1", "ORD-1", "PROD-001", "PROD-002"));
                return Task.CompletedTask;
            });
            // A deleted highest id must not come back: SQLite's AUTOINCREMENT remembers it.
            await store.ReadAsync(db => db.Database.ExecuteSqlRawAsync("DELETE FROM inventory_reservation_lines WHERE id = 2"));
            await SaveAsync(store, useWriter, db =>
            {
                db.Reservations.Add(NewReservation("RSV-2", "ORD-2", "PROD-003"));
                return Task.CompletedTask;
            });
        }

        Assert.Multiple(() =>
        {
            Assert.That(Rows(byWriter, "inventory_reservations"), Is.EqualTo(Rows(byEf, "inventory_reservations")));
            Assert.That(Rows(byWriter, "inventory_reservation_lines"), Is.EqualTo(Rows(byEf, "inventory_reservation_lines")));
            Assert.That(Rows(byWriter, "inventory_reservation_lines").Select(r => r[0]), Is.EqualTo(new[] { "1 Int64", "3 Int64" }));
        });
    }

    [Test]
    public async Task Prepare_BeforeAnotherWriterAddsRows_AssignsGeneratedIdsWhenTheRowsAreWritten()
    {
        using var store = InMemoryStore.Inventory();
        await using var db = store.NewContext();
        db.Reservations.Add(NewReservation("RSV-1", "ORD-1", "PROD-001", "PROD-002"));
        // Prepared outside the write turn, as the consumers do; another writer commits lines meanwhile.
        var save = TrackedChangesWriter.Prepare(db);
        await SaveAsync(store, useWriter: true, other =>
        {
            other.Reservations.Add(NewReservation("RSV-2", "ORD-2", "PROD-003", "PROD-004"));
            return Task.CompletedTask;
        });

        await using (var transaction = await db.Database.BeginTransactionAsync())
        {
            using var statements = new StatementCache(db);
            await save.ExecuteAsync(statements, CancellationToken.None);
            await transaction.CommitAsync();
        }

        var lines = await store.ReadAsync(d => d.Database.SqlQueryRaw<string>(
            "SELECT reservation_id || ':' || id AS Value FROM inventory_reservation_lines ORDER BY id").ToListAsync());
        Assert.That(lines, Is.EqualTo(new[] { "RSV-2:1", "RSV-2:2", "RSV-1:3", "RSV-1:4" }));
    }

    [Test]
    public async Task Prepare_OfAnUpdate_IsExecutedOnceAndLeavesTheRowsTrackedUntilAccepted()
    {
        using var store = InMemoryStore.Payment();
        await SaveAsync(store, useWriter: true, db =>
        {
            db.Requests.Add(new PaymentRequest { OrderId = "ORD-1", Amount = 10m, Status = PaymentStatus.Pending, UpdatedAt = At });
            return Task.CompletedTask;
        });
        await using var db = store.NewContext();
        (await db.Requests.FindAsync("ORD-1"))!.Status = PaymentStatus.Charged;

        var save = TrackedChangesWriter.Prepare(db);
        await using (var transaction = await db.Database.BeginTransactionAsync())
        {
            using var statements = new StatementCache(db);
            await save.ExecuteAsync(statements, CancellationToken.None);
            Assert.ThrowsAsync<InvalidOperationException>(() => save.ExecuteAsync(statements, CancellationToken.None));
            await transaction.CommitAsync();
        }
        Assert.That(db.ChangeTracker.Entries().Single().State, Is.EqualTo(EntityState.Modified));
        save.AcceptChanges();

        Assert.Multiple(async () =>
        {
            Assert.That(db.ChangeTracker.Entries().Single().State, Is.EqualTo(EntityState.Unchanged));
            Assert.That(await store.ReadAsync(d => d.Requests.AsNoTracking().Select(r => r.Status).SingleAsync()), Is.EqualTo(PaymentStatus.Charged));
        });
    }

    [Test]
    public async Task InboxOutboxInsert_LeavesTheRowsSaveChangesLeaves()
    {
        using var byEf = InMemoryStore.Orders();
        using var byWriter = InMemoryStore.Orders();
        InboxMessage[] inbox =
        [
            new() { EventId = "EVT-1", EventType = "InventoryReserved", OrderId = "ORD-1", Topic = "inventory-events", Partition = 3, Offset = 1L << 40, ProcessedAt = At },
            new() { EventId = "EVT-2", EventType = "PaymentCompleted", OrderId = "", Topic = "payment-events", Partition = 0, Offset = 0, ProcessedAt = At.AddTicks(1) },
        ];
        OutboxMessage[] outbox =
        [
            new() { EventId = "EVT-3", EventType = "OrderStatusChanged", EventVersion = 2, Topic = "order-events", Key = "ORD-1", Payload = "{\"a\":\"ü\"}"u8.ToArray(), TraceParent = null, CreatedAt = At },
            new() { EventId = "EVT-4", EventType = "OrderCancelled", Topic = "order-events", Key = "ORD-1", Payload = [], TraceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", CreatedAt = At },
        ];

        await using (var db = byEf.NewContext())
        {
            db.Inbox.AddRange(inbox);
            db.OutboxMessages.AddRange(outbox);
            await db.SaveChangesAsync();
        }
        await using (var db = byWriter.NewContext())
        await using (var transaction = await db.Database.BeginTransactionAsync())
        {
            using (var statements = new StatementCache(db)) InboxOutboxWriter.Insert(statements, inbox, outbox);
            await transaction.CommitAsync();
        }

        Assert.Multiple(() =>
        {
            Assert.That(Rows(byWriter, "orders_inbox"), Is.EqualTo(Rows(byEf, "orders_inbox")));
            Assert.That(Rows(byWriter, "orders_outbox"), Is.EqualTo(Rows(byEf, "orders_outbox")));
        });
    }

    [Test]
    public async Task Save_WhenAConcurrencyTokenChangedSinceTheRead_FailsAndWritesNothing()
    {
        using var store = InMemoryStore.Inventory();
        await SaveAsync(store, useWriter: true, db =>
        {
            db.Stock.Add(new StockItem { ProductId = "PROD-001", InitialQuantity = 10, Available = 10 });
            return Task.CompletedTask;
        });

        await using var db = store.NewContext();
        var failed = 0;
        db.SaveFailed += () => failed++;
        var item = (await db.Stock.FindAsync("PROD-001"))!;
        item.Available -= 3;
        db.Reservations.Add(NewReservation("RSV-1", "ORD-1", "PROD-001"));
        // Another writer took stock in the meantime.
        await store.ReadAsync(other => other.Database.ExecuteSqlRawAsync("UPDATE inventory_stock SET available = 9"));

        await using (var transaction = await db.Database.BeginTransactionAsync())
        {
            using var statements = new StatementCache(db);
            Assert.ThrowsAsync<DbUpdateConcurrencyException>(() => TrackedChangesWriter.SaveAsync(statements, CancellationToken.None));
        }

        Assert.Multiple(async () =>
        {
            Assert.That(failed, Is.EqualTo(1), "SaveFailed is raised, as for SaveChanges");
            Assert.That(await store.ReadAsync(d => d.Stock.Select(s => s.Available).SingleAsync()), Is.EqualTo(9));
            Assert.That(await store.ReadAsync(d => d.Reservations.CountAsync()), Is.Zero);
        });
    }

    [Test]
    public async Task Save_WithADeletedRow_LeavesTheWholeUnitOfWorkToSaveChanges()
    {
        using var store = InMemoryStore.Payment();
        await SaveAsync(store, useWriter: true, db =>
        {
            db.Requests.Add(new PaymentRequest { OrderId = "ORD-1", Amount = 10.5m, Status = PaymentStatus.Pending, UpdatedAt = At });
            db.Requests.Add(new PaymentRequest { OrderId = "ORD-2", Amount = 1m, Status = PaymentStatus.Pending, UpdatedAt = At });
            return Task.CompletedTask;
        });

        var saving = 0;
        await SaveAsync(store, useWriter: true, async db =>
        {
            db.Saving += () => saving++;
            db.Requests.Remove((await db.Requests.FindAsync("ORD-1"))!);
            (await db.Requests.FindAsync("ORD-2"))!.Status = PaymentStatus.Charged;
        });

        var left = await store.ReadAsync(db => db.Requests.AsNoTracking().ToListAsync());
        Assert.Multiple(() =>
        {
            Assert.That(left.Select(r => (r.OrderId, r.Status, r.Amount)), Is.EqualTo(new[] { ("ORD-2", PaymentStatus.Charged, (decimal?)1m) }));
            Assert.That(saving, Is.EqualTo(1), "Saving is raised once, by SaveChanges");
        });
    }

    [Test]
    public async Task Save_RaisesSavingAndSavedOnceAndAcceptsTheChanges()
    {
        using var store = InMemoryStore.Payment();
        await using var db = store.NewContext();
        var events = new List<string>();
        db.Saving += () => events.Add("saving");
        db.Saved += () => events.Add("saved");
        db.Requests.Add(new PaymentRequest { OrderId = "ORD-1", Amount = 10m, Status = PaymentStatus.Pending, UpdatedAt = At });

        await using (var transaction = await db.Database.BeginTransactionAsync())
        {
            using var statements = new StatementCache(db);
            await TrackedChangesWriter.SaveAsync(statements, CancellationToken.None);
            await TrackedChangesWriter.SaveAsync(statements, CancellationToken.None);
            await transaction.CommitAsync();
        }

        Assert.Multiple(() =>
        {
            Assert.That(events, Is.EqualTo(new[] { "saving", "saved" }), "the second save has nothing to write");
            Assert.That(db.ChangeTracker.Entries().Select(e => e.State), Is.All.EqualTo(EntityState.Unchanged));
        });
    }

    [Test]
    public async Task Save_OfRowsInsertedUntracked_LeavesTheRowsSaveChangesLeavesAndTracksNothing()
    {
        using var byEf = InMemoryStore.Payment();
        using var byWriter = InMemoryStore.Payment();
        int tracked = -1;

        foreach (var (store, useWriter) in new[] { (byEf, false), (byWriter, true) })
        {
            await SaveAsync(store, useWriter, db =>
            {
                var request = new PaymentRequest { OrderId = "ORD-1", Status = PaymentStatus.Pending, UpdatedAt = At };
                db.Insert(request);
                // Values are read when the unit of work is saved: filled in after Insert, they are written.
                request.Amount = 59.97m;
                request.UserId = "USER-1";
                db.Insert(new LedgerEntry { Id = "PAY-1", OrderId = "ORD-1", Kind = LedgerKind.Charge, Amount = 59.97m, At = At });
                db.Requests.Add(new PaymentRequest { OrderId = "ORD-2", Amount = 1m, Status = PaymentStatus.Pending, UpdatedAt = At });
                if (useWriter) tracked = db.ChangeTracker.Entries().Count();
                return Task.CompletedTask;
            });
        }

        Assert.Multiple(() =>
        {
            Assert.That(tracked, Is.EqualTo(1), "only the row added through the DbSet is tracked");
            Assert.That(Rows(byWriter, "payment_requests"), Has.Count.EqualTo(2));
            Assert.That(Rows(byWriter, "payment_requests").OrderBy(r => r[0]), Is.EqualTo(Rows(byEf, "payment_requests").OrderBy(r => r[0])));
            Assert.That(Rows(byWriter, "payment_ledger"), Is.EqualTo(Rows(byEf, "payment_ledger")));
        });
    }

    [Test]
    public async Task Save_OfAnUntrackedRowWithOwnedRows_LeavesTheRowsSaveChangesLeavesAndTracksNothing()
    {
        using var byEf = InMemoryStore.Inventory();
        using var byWriter = InMemoryStore.Inventory();
        var tracked = -1;

        foreach (var (store, useWriter) in new[] { (byEf, false), (byWriter, true) })
        {
            await SaveAsync(store, useWriter, db =>
            {
                db.Reservations.Add(NewReservation("RSV-1", "ORD-1", "PROD-001", "PROD-002"));
                return Task.CompletedTask;
            });
            await SaveAsync(store, useWriter, db =>
            {
                var reservation = NewReservation("RSV-2", "ORD-2", "PROD-003");
                db.Insert(reservation);
                // Values are read when the unit of work is saved: a line added after Insert is written too.
                reservation.Lines.Add(new ReservationLine { ProductId = "PROD-004", Quantity = 7 });
                if (useWriter) tracked = db.ChangeTracker.Entries().Count();
                return Task.CompletedTask;
            });
        }

        var lines = await byWriter.ReadAsync(d => d.Database.SqlQueryRaw<string>(
            "SELECT reservation_id || ':' || id || ':' || product_id AS Value FROM inventory_reservation_lines ORDER BY id").ToListAsync());
        Assert.Multiple(() =>
        {
            Assert.That(tracked, Is.Zero, "neither the reservation nor its lines are tracked");
            Assert.That(Rows(byWriter, "inventory_reservations"), Is.EqualTo(Rows(byEf, "inventory_reservations")));
            Assert.That(Rows(byWriter, "inventory_reservation_lines"), Is.EqualTo(Rows(byEf, "inventory_reservation_lines")));
            Assert.That(lines, Is.EqualTo(new[] { "RSV-1:1:PROD-001", "RSV-1:2:PROD-002", "RSV-2:3:PROD-003", "RSV-2:4:PROD-004" }));
        });
    }

    [Test]
    public async Task Save_OfUntrackedAndTrackedOwnedRowsOfOneTable_GivesEveryLineItsOwnId()
    {
        using var store = InMemoryStore.Inventory();

        await SaveAsync(store, useWriter: true, db =>
        {
            db.Insert(NewReservation("RSV-1", "ORD-1", "PROD-001", "PROD-002"));
            db.Reservations.Add(NewReservation("RSV-2", "ORD-2", "PROD-003"));
            db.Insert(NewReservation("RSV-3", "ORD-3"));
            return Task.CompletedTask;
        });

        var lines = await store.ReadAsync(d => d.Database.SqlQueryRaw<string>(
            "SELECT reservation_id || ':' || product_id || ':' || quantity AS Value FROM inventory_reservation_lines ORDER BY id").ToListAsync());
        var ids = await store.ReadAsync(d => d.Database.SqlQueryRaw<long>("SELECT id AS Value FROM inventory_reservation_lines ORDER BY id").ToListAsync());
        Assert.Multiple(() =>
        {
            Assert.That(lines, Is.EquivalentTo(new[] { "RSV-1:PROD-001:1", "RSV-1:PROD-002:2", "RSV-2:PROD-003:1" }));
            Assert.That(ids, Is.EqualTo(new long[] { 1, 2, 3 }));
            Assert.That(Rows(store, "inventory_reservations"), Has.Count.EqualTo(3), "a reservation without lines is written too");
        });
    }

    [Test]
    public async Task Save_OfUntrackedRows_WritesThemOnceAndRaisesSavingWithThemPending()
    {
        using var store = InMemoryStore.Payment();
        await using var db = store.NewContext();
        var pendingWhenSaving = -1;
        db.Saving += () => { if (pendingWhenSaving < 0) pendingWhenSaving = db.Inserted<LedgerEntry>().Count(); };
        db.Insert(new LedgerEntry { Id = "PAY-1", OrderId = "ORD-1", Kind = LedgerKind.Charge, Amount = 1m, At = At });

        await using (var transaction = await db.Database.BeginTransactionAsync())
        {
            using var statements = new StatementCache(db);
            await TrackedChangesWriter.SaveAsync(statements, CancellationToken.None);
            await TrackedChangesWriter.SaveAsync(statements, CancellationToken.None);
            await db.SaveChangesAsync();
            await transaction.CommitAsync();
        }

        Assert.Multiple(() =>
        {
            Assert.That(pendingWhenSaving, Is.EqualTo(1), "the metrics see the row while the save is prepared");
            Assert.That(db.Inserted<LedgerEntry>(), Is.Empty);
            Assert.That(Rows(store, "payment_ledger"), Has.Count.EqualTo(1), "a second save and SaveChanges write nothing again");
        });
    }

    [Test]
    public async Task FindOfOrder_OfARowInsertedUntracked_FindsItWithoutAQuery()
    {
        using var store = InMemoryStore.Payment();
        await using var db = store.NewContext();
        var stored = new PaymentRequest { OrderId = "ORD-0", Status = PaymentStatus.Pending, UpdatedAt = At };
        // A row of another kind first: the lookup by order must not depend on what was inserted before.
        db.Insert(new LedgerEntry { Id = "PAY-0", OrderId = "ORD-0", Kind = LedgerKind.Charge, Amount = 1m, At = At });
        var before = await db.FindOfOrderAsync<PaymentRequest>("ORD-0", r => r.OrderId == "ORD-0", _ => Task.FromResult<PaymentRequest?>(stored), CancellationToken.None);
        var request = new PaymentRequest { OrderId = "ORD-1", Status = PaymentStatus.Pending, UpdatedAt = At };
        db.Insert(request);

        var found = await db.FindOfOrderAsync<PaymentRequest>("ORD-1", r => r.OrderId == "ORD-1",
            _ => throw new AssertionException("the inserted row is found without a query"), CancellationToken.None);
        var other = await db.FindOfOrderAsync<PaymentRequest>("ORD-2", r => r.OrderId == "ORD-2",
            _ => Task.FromResult<PaymentRequest?>(null), CancellationToken.None);

        Assert.That(before, Is.SameAs(stored), "no row of the order was inserted: the query answers");
        Assert.That(found, Is.SameAs(request));
        Assert.That(other, Is.Null);
    }

    private static async Task SaveAsync<TContext>(InMemoryStore<TContext> store, bool useWriter, Func<TContext, Task> change)
        where TContext : ModuleDbContext
    {
        await using var db = store.NewContext();
        await change(db);
        await SaveAsync(db, useWriter);
    }

    /// <summary>Saves what <paramref name="db"/> holds in a transaction of its own: by the consumers' writer, or by EF Core's SaveChanges.</summary>
    internal static async Task SaveAsync(ModuleDbContext db, bool useWriter)
    {
        await using var transaction = await db.Database.BeginTransactionAsync();
        if (useWriter)
        {
            using var statements = new StatementCache(db);
            await TrackedChangesWriter.SaveAsync(statements, CancellationToken.None);
        }
        else
        {
            await db.SaveChangesAsync();
        }
        await transaction.CommitAsync();
    }

    private static List<string[]> Rows<TContext>(InMemoryStore<TContext> store, string table, params string[] except)
        where TContext : ModuleDbContext => store.Rows(table, except);

    internal static Order NewOrder(string id = "ORD-1")
    {
        var order = new Order
        {
            Id = id,
            UserId = "USER-1",
            Items = [new OrderLine { ProductId = "PROD-001", Quantity = 3, Price = 19.99m }],
            TotalAmount = 59.97m,
            Currency = "EUR",
            ShippingAddress = new OrderAddress { Line1 = "Unter den Linden 1", City = "Berlin", PostalCode = "10115", Country = "DE" },
            TraceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            CreatedAt = At,
            UpdatedAt = At,
        };
        order.History.Add(new OrderTransition { From = "", To = nameof(OrderStatus.Created), At = At });
        return order;
    }

    private static Reservation NewReservation(string id, string orderId, params string[] products) => new()
    {
        Id = id,
        OrderId = orderId,
        Status = ReservationStatus.Reserved,
        Lines = products.Select((p, i) => new ReservationLine { ProductId = p, Quantity = i + 1 }).ToList(),
        CreatedAt = At,
    };
}
