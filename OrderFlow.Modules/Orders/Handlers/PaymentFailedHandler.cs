using OrderFlow.Contracts;
using OrderFlow.Messaging;
using OrderFlow.Orders.Data;

namespace OrderFlow.Orders.Handlers;

/// <summary>Records why the payment failed; the order is cancelled once Inventory confirms the release.</summary>
internal sealed class PaymentFailedHandler(OrdersDbContext db) : IEventHandler<PaymentFailed>
{
    public async Task HandleAsync(PaymentFailed evt, Outbox outbox, CancellationToken cancellationToken)
    {
        var order = await db.LoadAsync(evt.OrderId, cancellationToken);
        // Recorded even when the order is already cancelled: payment-events and inventory-events are
        // separate topics, so the release that cancels the order may arrive first.
        order.PaymentFailure ??= evt.Reason;
    }
}
