using Microsoft.EntityFrameworkCore;
using OrderFlow.Messaging;
using OrderFlow.Orders;
using OrderFlow.Orders.Data;
using OrderFlow.Persistence;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.Messaging;

/// <summary>
/// Writers hand the outbox rows they commit to the relay (<see cref="OutboxSignal{TContext}.Committed"/>),
/// which sends them without reading the table back while their ids carry on from its mark without a
/// gap; any gap sends it back to the table, so no committed row is skipped.
/// </summary>
[TestFixture]
public sealed class OutboxHandOffTests
{
    [Test]
    public void TryTake_TakesTheUnbrokenRunAfterTheMark_UpToTheLimit()
    {
        var signal = new OutboxSignal<OrdersDbContext>();
        signal.Committed(Rows(5, 6, 7));
        signal.Committed(Rows(8, 9));

        var first = new List<PendingOutboxRow>();
        var second = new List<PendingOutboxRow>();
        Assert.Multiple(() =>
        {
            Assert.That(signal.TryTake(after: 4, limit: 3, first), Is.True);
            Assert.That(first.Select(r => r.Id), Is.EqualTo(new long[] { 5, 6, 7 }));
            Assert.That(signal.Queued, Is.EqualTo(2));
            Assert.That(signal.TryTake(after: 7, limit: 3, second), Is.True);
            Assert.That(second.Select(r => r.Id), Is.EqualTo(new long[] { 8, 9 }));
            Assert.That(signal.Queued, Is.Zero);
        });
    }

    [Test]
    public void TryTake_WhenARowWasNotHandedOff_TakesNothingUntilTheTableReadPassesTheGap()
    {
        var signal = new OutboxSignal<OrdersDbContext>();
        // Row 6 was written by a path that does not hand off (or by another process).
        signal.Committed(Rows(5));
        signal.Committed(Rows(7, 8));

        var taken = new List<PendingOutboxRow>();
        Assert.That(signal.TryTake(after: 4, limit: 10, taken), Is.True);
        Assert.That(taken.Select(r => r.Id), Is.EqualTo(new long[] { 5 }), "the run stops at the gap");

        var none = new List<PendingOutboxRow>();
        Assert.Multiple(() =>
        {
            Assert.That(signal.TryTake(after: 5, limit: 10, none), Is.False, "row 6 is only in the table");
            Assert.That(none, Is.Empty);
            Assert.That(signal.Queued, Is.EqualTo(2), "kept for after the read");
        });

        // The relay read 6 and 7 from the table: 7 is dropped, 8 carries on from the new mark.
        var rest = new List<PendingOutboxRow>();
        Assert.Multiple(() =>
        {
            Assert.That(signal.TryTake(after: 7, limit: 10, rest), Is.True);
            Assert.That(rest.Select(r => r.Id), Is.EqualTo(new long[] { 8 }));
        });
    }

    [Test]
    public void TryTake_WhenTheRowsAfterTheMarkWereNotHandedOff_TakesNothing()
    {
        var signal = new OutboxSignal<OrdersDbContext>();
        signal.Committed(Rows(3, 4));

        var taken = new List<PendingOutboxRow>();
        Assert.Multiple(() =>
        {
            Assert.That(signal.TryTake(after: 0, limit: 10, taken), Is.False, "rows 1 and 2 are in the table only");
            Assert.That(taken, Is.Empty);
        });
    }

    [Test]
    public void Committed_PastTheCapacity_KeepsTheOlderRows_AndTheRestAreReadFromTheTable()
    {
        var signal = new OutboxSignal<OrdersDbContext>();
        var capacity = OutboxSignal<OrdersDbContext>.Capacity;
        signal.Committed(Rows(Enumerable.Range(1, capacity + 5).Select(i => (long)i).ToArray()));
        signal.Committed(Rows(capacity + 6));

        var taken = new List<PendingOutboxRow>();
        Assert.Multiple(() =>
        {
            Assert.That(signal.Queued, Is.EqualTo(capacity), "a relay that cannot send must not grow memory");
            Assert.That(signal.TryTake(after: 0, limit: int.MaxValue, taken), Is.True);
            Assert.That(taken[^1].Id, Is.EqualTo(capacity));
            Assert.That(signal.TryTake(after: capacity, limit: 10, []), Is.False, "the rows dropped are in the table only");
        });
    }

    [Test]
    public async Task Committed_WakesTheRelay()
    {
        var signal = new OutboxSignal<OrdersDbContext>();
        signal.Committed(Rows(1));

        var waited = System.Diagnostics.Stopwatch.StartNew();
        await signal.WaitAsync(TimeSpan.FromSeconds(30), CancellationToken.None);

        Assert.That(waited.Elapsed, Is.LessThan(TimeSpan.FromSeconds(10)));
    }

    [Test]
    public async Task PreparedInserts_HandTheRelayTheRowsItWouldReadBack()
    {
        using var store = InMemoryStore.Orders();
        // A row written before, so that the handed-off ids do not start at 1.
        await store.ReadAsync(db =>
        {
            db.OutboxMessages.Add(Outbox(0));
            return db.SaveChangesAsync();
        });
        await using var db = store.NewContext();
        var inserts = InboxOutboxWriter.Prepare(db, [], [Outbox(1), Outbox(2), Outbox(3)]);
        await db.Database.OpenConnectionAsync();
        await using (var transaction = await db.Database.BeginWriteTransactionAsync(CancellationToken.None))
        {
            using (var statements = new StatementCache(db)) inserts.Execute(statements);
            await transaction.CommitAsync(CancellationToken.None);
        }
        await db.Database.CloseConnectionAsync();

        var (read, _) = await InboxOutboxWriter.PendingAsync(db, 1, 10, CancellationToken.None);

        Assert.Multiple(() =>
        {
            Assert.That(inserts.OutboxRows.Select(PendingRows.Describe), Is.EqualTo(read.Select(PendingRows.Describe)));
            Assert.That(inserts.OutboxRows.Select(r => r.Id), Is.EqualTo(new long[] { 2, 3, 4 }));
            Assert.That(inserts.OutboxRows[1].EventType, Is.SameAs(read[1].EventType), "one array per event type name, as the relay's read");
        });
    }

    [Test]
    public async Task OrderPlacement_HandsOverTheRowsOfEachPath_AsTheTableHoldsThem()
    {
        using var store = InMemoryStore.Orders();
        var signal = new OutboxSignal<OrdersDbContext>();
        var clock = TimeProvider.System;
        var order = new NewOrder("USER-001", [new NewOrderLine("PROD-001", 2, 10m)]);
        string placed;
        await using (var db = store.NewContext())
            placed = (await new OrderPlacement(db, signal, clock).PlaceAsync(order, "key-1", CancellationToken.None)).Order.Id;
        await using (var db = store.NewContext())
            await new OrderPlacement(db, signal, clock).PlaceManyAsync([order, order], CancellationToken.None);
        await using (var db = store.NewContext())
            Assert.That((await new OrderPlacement(db, signal, clock).CancelAsync(placed, CancellationToken.None)).Outcome, Is.EqualTo(CancelOutcome.Cancelled));

        var handedOver = new List<PendingOutboxRow>();
        var taken = signal.TryTake(after: 0, limit: 100, handedOver);
        await using var reader = store.NewContext();
        var (read, _) = await InboxOutboxWriter.PendingAsync(reader, 0, 100, CancellationToken.None);

        Assert.Multiple(() =>
        {
            Assert.That(taken, Is.True);
            Assert.That(read.Select(r => PendingRows.Utf8(r.EventType)), Is.EqualTo(new[] { "OrderCreated", "OrderCreated", "OrderCreated", "OrderStatusChanged", "OrderCancelled" }),
                "one order placed through the API, two by the load generator, the first cancelled");
            Assert.That(handedOver.Select(PendingRows.Describe), Is.EqualTo(read.Select(PendingRows.Describe)), "the HTTP API's place and cancel, and the load generator's batch");
        });
    }

    private static OutboxMessage Outbox(int i) => new()
    {
        EventId = $"EVT-{i}", EventType = i == 3 ? "PaymentRefunded" : "OrderStatusChanged", EventVersion = i + 1,
        Topic = i == 2 ? "payment-events" : "order-events", Key = $"ORD-ü-{i}",
        Payload = [(byte)'{', (byte)i, 0xC3, (byte)'}'], TraceParent = i % 2 == 0 ? null : $"00-{i}", CreatedAt = DateTime.UtcNow,
    };

    private static PendingOutboxRow[] Rows(params long[] ids) => ids.Select(id => new PendingOutboxRow
    {
        Id = id, Topic = "order-events", Key = "ORD-1"u8.ToArray(), Payload = [], EventType = "OrderStatusChanged"u8.ToArray(), EventId = "EVT"u8.ToArray(),
    }).ToArray();
}
