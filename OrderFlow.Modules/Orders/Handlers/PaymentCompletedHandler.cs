using Microsoft.Extensions.Options;
using OrderFlow.Contracts;
using OrderFlow.Messaging;
using OrderFlow.Orders.Data;

namespace OrderFlow.Orders.Handlers;

internal sealed class PaymentCompletedHandler(OrdersDbContext db, TimeProvider clock, IOptions<OrdersOptions> options)
    : IEventHandler<PaymentCompleted>
{
    public async Task HandleAsync(PaymentCompleted evt, Outbox outbox, CancellationToken cancellationToken)
    {
        var order = await db.LoadAsync(evt.OrderId, cancellationToken);
        if (order.IsTerminal || order.Status == OrderStatus.Paid) return;   // Payment refunds a charge for a cancelled order itself

        var now = clock.GetUtcNow().UtcDateTime;
        order.PaymentId = evt.PaymentId;
        // payment-events and inventory-events are separate topics: the payment may overtake the
        // reservation it followed. A charge implies the reservation, so both steps are recorded.
        if (order.Status == OrderStatus.Created) order.MoveTo(OrderStatus.InventoryReserved, "implied by payment", now, outbox);
        order.MoveTo(OrderStatus.Paid, null, now, outbox);
        if (options.Value.FulfilmentHold == TimeSpan.Zero) order.MoveTo(OrderStatus.Completed, null, now, outbox);
    }
}
