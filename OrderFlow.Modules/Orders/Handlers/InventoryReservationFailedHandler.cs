using OrderFlow.Contracts;
using OrderFlow.Messaging;
using OrderFlow.Orders.Data;

namespace OrderFlow.Orders.Handlers;

internal sealed class InventoryReservationFailedHandler(OrdersDbContext db, TimeProvider clock) : IEventHandler<InventoryReservationFailed>
{
    public async Task HandleAsync(InventoryReservationFailed evt, Outbox outbox, CancellationToken cancellationToken)
    {
        var order = await db.LoadAsync(evt.OrderId, cancellationToken);
        if (order.IsTerminal) return;   // cancelled by the user before stock was checked
        // A failure for an order whose stock was reserved contradicts Inventory's own answer: the
        // state machine refuses it, and the loop logs and dead-letters it for an operator.

        var reason = evt.ProductId is null ? evt.Reason : $"{evt.Reason}: {evt.ProductId}";
        order.MoveTo(OrderStatus.Rejected, reason, clock.GetUtcNow().UtcDateTime, outbox);
    }
}
