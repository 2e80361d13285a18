using Microsoft.EntityFrameworkCore;
using OrderFlow.Payment.Data;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.Persistence;

/// <summary>
/// A preloaded batch answers <c>FindOfOrderAsync</c> from the tracked rows, through an index by
/// order: it must give what a scan of the tracked rows gives, for rows loaded, added and detached.
/// </summary>
[TestFixture]
public sealed class OrderRowIndexTests
{
    private static readonly DateTime At = new(2026, 1, 15, 10, 30, 0, DateTimeKind.Utc);

    [Test]
    public async Task FindOfOrder_InAPreloadedBatch_FindsLoadedAndAddedRowsWithoutAQuery()
    {
        using var store = InMemoryStore.Payment();
        await store.ReadAsync(async db =>
        {
            db.Requests.Add(new PaymentRequest { OrderId = "ORD-1", Amount = 1m, Status = PaymentStatus.Pending, UpdatedAt = At });
            db.Requests.Add(new PaymentRequest { OrderId = "ORD-2", Amount = 2m, Status = PaymentStatus.Pending, UpdatedAt = At });
            return await db.SaveChangesAsync();
        });

        await using var db = store.NewContext();
        db.IndexOrderRows();
        await db.Requests.Where(r => r.OrderId == "ORD-1" || r.OrderId == "ORD-2").LoadAsync();
        db.MarkPreloaded(new HashSet<string> { "ORD-1", "ORD-2", "ORD-3" });
        var added = new PaymentRequest { OrderId = "ORD-3", Amount = 3m, Status = PaymentStatus.Pending, UpdatedAt = At };
        db.Requests.Add(added);
        var queried = 0;

        Task<PaymentRequest?> Query(CancellationToken _)
        {
            queried++;
            return Task.FromResult<PaymentRequest?>(null);
        }

        var first = await db.FindOfOrderAsync<PaymentRequest>("ORD-1", r => r.OrderId == "ORD-1", Query, CancellationToken.None);
        var third = await db.FindOfOrderAsync<PaymentRequest>("ORD-3", r => r.OrderId == "ORD-3", Query, CancellationToken.None);
        var narrower = await db.FindOfOrderAsync<PaymentRequest>("ORD-2", r => r.OrderId == "ORD-2" && r.Amount == 5m, Query, CancellationToken.None);
        db.Entry(first!).State = EntityState.Detached;
        var detached = await db.FindOfOrderAsync<PaymentRequest>("ORD-1", r => r.OrderId == "ORD-1", Query, CancellationToken.None);
        var afterDetaching = await db.FindOfOrderAsync<PaymentRequest>("ORD-3", r => r.OrderId == "ORD-3", Query, CancellationToken.None);

        Assert.Multiple(() =>
        {
            Assert.That(first?.Amount, Is.EqualTo(1m));
            Assert.That(third, Is.SameAs(added));
            Assert.That(narrower, Is.Null, "the order's row does not match");
            Assert.That(detached, Is.Null, "a row no longer tracked is not found");
            Assert.That(afterDetaching, Is.SameAs(added), "the other rows are still found");
            Assert.That(queried, Is.Zero, "preloaded orders are answered from the tracked rows");
        });
    }
}
