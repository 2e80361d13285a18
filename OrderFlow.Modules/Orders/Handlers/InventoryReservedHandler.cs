using OrderFlow.Contracts;
using OrderFlow.Messaging;
using OrderFlow.Orders.Data;

namespace OrderFlow.Orders.Handlers;

internal sealed class InventoryReservedHandler(OrdersDbContext db, TimeProvider clock) : IEventHandler<InventoryReserved>
{
    public async Task HandleAsync(InventoryReserved evt, Outbox outbox, CancellationToken cancellationToken)
    {
        var order = await db.LoadAsync(evt.OrderId, cancellationToken);
        order.ReservationId ??= evt.ReservationId;
        if (order.Status != OrderStatus.Created) return;   // cancelled meanwhile, or a payment overtook it

        order.MoveTo(OrderStatus.InventoryReserved, null, clock.GetUtcNow().UtcDateTime, outbox);
    }
}
