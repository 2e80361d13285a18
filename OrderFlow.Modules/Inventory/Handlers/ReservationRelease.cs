using Microsoft.EntityFrameworkCore;
using OrderFlow.Contracts;
using OrderFlow.Inventory.Data;
using OrderFlow.Messaging;

namespace OrderFlow.Inventory.Handlers;

/// <summary>Puts a reservation's units back, once; a second release of the same order does nothing.</summary>
internal sealed class ReservationRelease(InventoryDbContext db, TimeProvider clock, InventoryMetrics? metrics = null, StockLookup? stockLookup = null)
{
    private readonly StockLookup stockRows = stockLookup ?? new StockLookup(db, null);

    public async Task ReleaseAsync(string orderId, string reason, Outbox outbox, CancellationToken cancellationToken)
    {
        var reservation = await db.FindOfOrderAsync(orderId, r => r.OrderId == orderId,
            ct => db.Reservations.Include(r => r.Lines).FirstOrDefaultAsync(r => r.OrderId == orderId, ct), cancellationToken);
        if (reservation is null || reservation.Status != ReservationStatus.Reserved) return;

        foreach (var line in reservation.Lines)
        {
            var item = await stockRows.FindAsync(line.ProductId, cancellationToken)
                ?? throw new InvalidOperationException($"reserved product {line.ProductId} is missing from inventory_stock");
            item.Available += line.Quantity;
        }
        var now = clock.GetUtcNow().UtcDateTime;
        reservation.Status = ReservationStatus.Released;
        reservation.ReleasedAt = now;
        reservation.ReleaseReason = reason;
        metrics?.Released(db);
        outbox.Add(new InventoryReleased { OrderId = orderId, ReservationId = reservation.Id, Reason = reason, Timestamp = now });
    }
}

internal sealed class OrderCancelledHandler(ReservationRelease release) : IEventHandler<OrderCancelled>
{
    public Task HandleAsync(OrderCancelled evt, Outbox outbox, CancellationToken cancellationToken) =>
        release.ReleaseAsync(evt.OrderId, evt.Reason, outbox, cancellationToken);
}

internal sealed class PaymentFailedHandler(ReservationRelease release) : IEventHandler<PaymentFailed>
{
    public Task HandleAsync(PaymentFailed evt, Outbox outbox, CancellationToken cancellationToken) =>
        release.ReleaseAsync(evt.OrderId, "payment_failed", outbox, cancellationToken);
}
