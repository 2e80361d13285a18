using Microsoft.EntityFrameworkCore;
using OrderFlow.Contracts;
using OrderFlow.Inventory.Data;
using OrderFlow.Messaging;

namespace OrderFlow.Inventory.Handlers;

/// <summary>Reserves every line of a new order, or none: unknown products and missing stock reject the order.</summary>
internal sealed class OrderCreatedHandler(InventoryDbContext db, TimeProvider clock, InventoryMetrics? metrics = null, StockLookup? stockLookup = null) : IEventHandler<OrderCreated>
{
    private readonly StockLookup stockRows = stockLookup ?? new StockLookup(db, null);

    public async Task HandleAsync(OrderCreated evt, Outbox outbox, CancellationToken cancellationToken)
    {
        // Already decided under another event id: reserved, released or rejected. A rejection is
        // recorded too, or a copy arriving after stock came back would reserve for a rejected order.
        if (await db.FindOfOrderAsync(evt.OrderId, r => r.OrderId == evt.OrderId,
                ct => db.Reservations.FirstOrDefaultAsync(r => r.OrderId == evt.OrderId, ct), cancellationToken) is not null) return;

        var wanted = evt.Items.GroupBy(i => i.ProductId).Select(g => (ProductId: g.Key, Quantity: g.Sum(i => i.Quantity))).ToList();
        var stock = new List<(StockItem Item, int Quantity)>(wanted.Count);
        foreach (var (productId, quantity) in wanted)
        {
            var item = await stockRows.FindAsync(productId, cancellationToken);
            if (item is null)
            {
                Reject(evt, "unknown_product", productId, outbox);
                return;
            }
            if (!await stockRows.HasAsync(item, quantity, cancellationToken))
            {
                Reject(evt, "insufficient_stock", productId, outbox);
                return;
            }
            stock.Add((item, quantity));
        }

        foreach (var (item, quantity) in stock) item.Available -= quantity;
        var reservation = new Reservation
        {
            Id = "RSV-" + Ids.NewVersion7().ToString("N").ToUpperInvariant(),
            OrderId = evt.OrderId,
            Status = ReservationStatus.Reserved,
            Lines = wanted.Select(w => new ReservationLine { ProductId = w.ProductId, Quantity = w.Quantity }).ToList(),
            CreatedAt = clock.GetUtcNow().UtcDateTime,
        };
        // Only inserted here: untracked, with its lines (ModuleDbContext.Insert).
        db.Insert(reservation);
        metrics?.Reserved(db);
        outbox.Add(new InventoryReserved { OrderId = evt.OrderId, ReservationId = reservation.Id, Timestamp = reservation.CreatedAt });
    }

    private void Reject(OrderCreated evt, string reason, string productId, Outbox outbox)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        db.Insert(new Reservation
        {
            Id = "RSV-" + Ids.NewVersion7().ToString("N").ToUpperInvariant(),
            OrderId = evt.OrderId,
            Status = ReservationStatus.Rejected,
            CreatedAt = now,
            ReleaseReason = $"{reason}: {productId}",
        });
        metrics?.Rejected(db, reason);
        outbox.Add(new InventoryReservationFailed { OrderId = evt.OrderId, Reason = reason, ProductId = productId, Timestamp = now });
    }
}
