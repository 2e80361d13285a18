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
        if (order.IsTerminal) return;

        order.PaymentFailure = evt.Reason;
    }
}
