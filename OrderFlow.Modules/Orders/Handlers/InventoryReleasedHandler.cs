using OrderFlow.Contracts;
using OrderFlow.Messaging;
using OrderFlow.Orders.Data;

namespace OrderFlow.Orders.Handlers;

/// <summary>Stock released because the payment failed: the compensation is done, the order is cancelled.</summary>
internal sealed class InventoryReleasedHandler(OrdersDbContext db, TimeProvider clock) : IEventHandler<InventoryReleased>
{
    public async Task HandleAsync(InventoryReleased evt, Outbox outbox, CancellationToken cancellationToken)
    {
        var order = await db.LoadAsync(evt.OrderId, cancellationToken);
        if (order.IsTerminal) return;   // the release answers a cancellation Orders already applied

        order.MoveTo(OrderStatus.Cancelled, evt.Reason, clock.GetUtcNow().UtcDateTime, outbox);
    }
}
