using OrderFlow.Contracts;
using OrderFlow.Messaging;
using OrderFlow.Payment.Data;

namespace OrderFlow.Payment.Handlers;

/// <summary>The payment side of the saga for one order: charge when amount and reservation are known, refund on cancellation.</summary>
internal sealed class PaymentProcess(PaymentDbContext db, PaymentGateway gateway, TimeProvider clock, PaymentMetrics? metrics = null)
{
    public async Task<PaymentRequest> RequestAsync(string orderId, CancellationToken cancellationToken)
    {
        // A preloaded order that has no request yet needs no query to find that out.
        var request = await db.FindOfOrderAsync(orderId, r => r.OrderId == orderId,
            ct => db.Requests.FindAsync([orderId], ct).AsTask(), cancellationToken);
        if (request is not null) return request;
        request = new PaymentRequest { OrderId = orderId, Status = PaymentStatus.Pending, UpdatedAt = clock.GetUtcNow().UtcDateTime };
        // Filled in by the caller; a later unit of work changes it, this one only inserts it.
        db.Insert(request);
        return request;
    }

    /// <summary>Charges once, when everything needed is known and nobody cancelled.</summary>
    public async Task ChargeIfReadyAsync(PaymentRequest request, Outbox outbox, CancellationToken cancellationToken)
    {
        if (request.Status != PaymentStatus.Pending || request.CancelRequested) return;
        if (request.Amount is not { } amount || request.ReservationId is null) return;

        var result = await gateway.ChargeAsync(request.OrderId, amount, cancellationToken);
        var now = clock.GetUtcNow().UtcDateTime;
        request.UpdatedAt = now;
        if (result.Decision == GatewayDecision.Declined)
        {
            request.Status = PaymentStatus.Declined;
            request.Reason = result.Reason;
            metrics?.Failed(db, result.Reason ?? "declined");
            outbox.Add(new PaymentFailed { OrderId = request.OrderId, Amount = amount, Reason = result.Reason!, Timestamp = now });
            return;
        }

        request.Status = PaymentStatus.Charged;
        request.PaymentId = "PAY-" + Ids.NewVersion7().ToString("N").ToUpperInvariant();
        db.Insert(new LedgerEntry { Id = request.PaymentId, OrderId = request.OrderId, Kind = LedgerKind.Charge, Amount = amount, At = now });
        metrics?.Completed(db);
        outbox.Add(new PaymentCompleted { OrderId = request.OrderId, PaymentId = request.PaymentId, Amount = amount, Timestamp = now });
    }

    /// <summary>Refunds a charge once; an order not charged yet is marked so it never will be.</summary>
    public void Cancel(PaymentRequest request, string reason, Outbox outbox)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        request.CancelRequested = true;
        request.CancelReason = reason;
        request.UpdatedAt = now;
        if (request.Status == PaymentStatus.Pending)
        {
            request.Status = PaymentStatus.Cancelled;
            return;
        }
        if (request.Status != PaymentStatus.Charged) return;

        request.Status = PaymentStatus.Refunded;
        metrics?.Refunded(db);
        db.Insert(new LedgerEntry { Id = "RFD-" + request.PaymentId![4..], OrderId = request.OrderId, Kind = LedgerKind.Refund, Amount = request.Amount!.Value, At = now });
        outbox.Add(new PaymentRefunded { OrderId = request.OrderId, PaymentId = request.PaymentId, Amount = request.Amount.Value, Reason = reason, Timestamp = now });
    }
}

internal sealed class OrderCreatedHandler(PaymentProcess process) : IEventHandler<OrderCreated>
{
    public async Task HandleAsync(OrderCreated evt, Outbox outbox, CancellationToken cancellationToken)
    {
        var request = await process.RequestAsync(evt.OrderId, cancellationToken);
        if (request.Amount is not null) return;   // a copy of an order already recorded

        request.Amount = evt.TotalAmount;
        request.UserId = evt.UserId;
        await process.ChargeIfReadyAsync(request, outbox, cancellationToken);
    }
}

internal sealed class InventoryReservedHandler(PaymentProcess process) : IEventHandler<InventoryReserved>
{
    public async Task HandleAsync(InventoryReserved evt, Outbox outbox, CancellationToken cancellationToken)
    {
        var request = await process.RequestAsync(evt.OrderId, cancellationToken);
        if (request.ReservationId is not null) return;

        request.ReservationId = evt.ReservationId;
        await process.ChargeIfReadyAsync(request, outbox, cancellationToken);
    }
}

internal sealed class OrderCancelledHandler(PaymentProcess process) : IEventHandler<OrderCancelled>
{
    public async Task HandleAsync(OrderCancelled evt, Outbox outbox, CancellationToken cancellationToken)
    {
        var request = await process.RequestAsync(evt.OrderId, cancellationToken);
        if (request.CancelRequested) return;

        process.Cancel(request, evt.Reason, outbox);
    }
}
