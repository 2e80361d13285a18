using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using OrderFlow.Messaging;
using OrderFlow.Orders.Data;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.Orders;

/// <summary>
/// An order's lines and history are stored as the lists' JSON text, parsed only when read and
/// appended to as text (<see cref="JsonListColumn{T}"/>): the text must be the document the whole
/// list serializes to, whichever way the entries came in.
/// </summary>
[TestFixture]
public sealed class JsonListColumnTests
{
    private static readonly DateTime At = new(2026, 1, 15, 10, 30, 0, DateTimeKind.Utc);

    private static OrderTransition Step(string from, string to, string? reason = null, int seconds = 0) =>
        new() { From = from, To = to, Reason = reason, At = At.AddSeconds(seconds).AddTicks(seconds * 1234) };

    private static string Whole(List<OrderTransition> list) => JsonSerializer.Serialize(list, OrderColumnJson.Options);

    [Test]
    public void Json_OfEntriesAppendedToUnreadText_IsTheWholeListsDocument()
    {
        var steps = new List<OrderTransition> { Step("", "Created"), Step("Created", "Paid", "note \"quoted\"", 1), Step("Paid", "Completed", null, 2) };
        var column = new JsonListColumn<OrderTransition>([]) { Json = "[]" };
        foreach (var step in steps) column.Add(step);

        Assert.That(column.Json, Is.EqualTo(Whole(steps)));
        Assert.That(column.List.Select(s => (s.From, s.To, s.Reason, s.At)), Is.EqualTo(steps.Select(s => (s.From, s.To, s.Reason, s.At))));
    }

    [Test]
    public void Json_MixingTextAppendsAndListReads_KeepsEveryEntryInOrder()
    {
        var stored = Whole([Step("", "Created")]);
        var column = new JsonListColumn<OrderTransition>([]) { Json = stored };
        column.Add(Step("Created", "InventoryReserved", seconds: 1)); // the text only: nothing read yet
        var list = column.List;                                         // parsed now, with the appended entry
        list.Add(Step("InventoryReserved", "Paid", seconds: 2));       // the list: the text follows on the next read
        column.Add(Step("Paid", "Completed", seconds: 3));

        Assert.That(list.Select(s => s.To), Is.EqualTo(new[] { "Created", "InventoryReserved", "Paid", "Completed" }));
        Assert.That(column.Json, Is.EqualTo(Whole(list)));
    }

    [Test]
    public void Json_OfAListThatGotShorter_IsWrittenAgainWhole()
    {
        var column = new JsonListColumn<OrderTransition>([Step("", "Created"), Step("Created", "Paid", seconds: 1)]);
        _ = column.Json;
        column.List.RemoveAt(1);

        Assert.That(column.Json, Is.EqualTo(Whole([Step("", "Created")])));
    }

    [Test]
    public void Json_ThatIsNoArray_FailsTheAppendWithAClearError()
    {
        var column = new JsonListColumn<OrderTransition>([]) { Json = "{}" };

        Assert.That(() => column.Add(Step("", "Created")), Throws.TypeOf<JsonException>().With.Message.Contains("no JSON array"));
    }

    [Test]
    public async Task Transitions_OfAnOrderWhoseHistoryWasNeverRead_ReachTheStoreAsTheWholeDocument()
    {
        using var store = new InMemoryStore<OrdersDbContext>(o => new OrdersDbContext(o));
        var id = "ORD-JSONCOLUMN1";
        await store.ApplyAsync((db, _) =>
        {
            var order = new Order
            {
                Id = id, UserId = "USER-001", TotalAmount = 20m, TraceParent = Tracing.NewTraceParent(), CreatedAt = At, UpdatedAt = At,
                Items = [new OrderLine { ProductId = "PROD-001", Quantity = 2, Price = 10m }],
            };
            order.History.Add(Step("", "Created"));
            db.Orders.Add(order);
            return Task.CompletedTask;
        });

        // As the consumer does: the order loaded, moved twice, saved; neither list read.
        await using (var db = store.NewContext())
        {
            var order = await db.Orders.SingleAsync(o => o.Id == id);
            var outbox = InMemoryStore.OutboxFor(db);
            order.MoveTo(OrderStatus.InventoryReserved, null, At.AddSeconds(1), outbox);
            order.MoveTo(OrderStatus.Cancelled, OrderReasons.UserCancelled, At.AddSeconds(2), outbox);
            await db.SaveChangesAsync();
        }

        var stored = await store.ReadAsync(db => db.Orders.AsNoTracking().SingleAsync(o => o.Id == id));
        Assert.That(stored.History.Select(h => (h.From, h.To, h.Reason)),
            Is.EqualTo(new[] { ("", "Created", (string?)null), ("Created", "InventoryReserved", null), ("InventoryReserved", "Cancelled", OrderReasons.UserCancelled) }));
        Assert.That(stored.HistoryJson, Is.EqualTo(JsonSerializer.Serialize(stored.History, OrderColumnJson.Options)));
        Assert.That(stored.Items.Single().ProductId, Is.EqualTo("PROD-001"));
    }
}
