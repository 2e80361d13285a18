using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using OrderFlow.Contracts;
using OrderFlow.Messaging;
using OrderFlow.Notification.Data;

namespace OrderFlow.Notification.Handlers;

/// <summary>Tells the customer the final outcome of an order, once.</summary>
internal sealed partial class OrderStatusChangedHandler(NotificationDbContext db, TimeProvider clock, ILogger<OrderStatusChangedHandler> logger)
    : IEventHandler<OrderStatusChanged>
{
    public async Task HandleAsync(OrderStatusChanged evt, Outbox outbox, CancellationToken cancellationToken)
    {
        if (!evt.IsTerminal) return;
        if (await db.FindOfOrderAsync(evt.OrderId, n => n.OrderId == evt.OrderId,
                ct => db.Notifications.FirstOrDefaultAsync(n => n.OrderId == evt.OrderId, ct), cancellationToken) is not null) return;   // the order already had its outcome

        var notification = new CustomerNotification
        {
            Id = "NTF-" + Ids.NewVersion7().ToString("N").ToUpperInvariant(),
            OrderId = evt.OrderId,
            UserId = evt.UserId,
            Outcome = evt.Status,
            Message = MessageFor(evt),
            SentAt = clock.GetUtcNow().UtcDateTime,
        };
        db.Insert(notification);   // a notification is only ever inserted
        outbox.Add(new NotificationSent
        {
            OrderId = evt.OrderId,
            NotificationId = notification.Id,
            UserId = evt.UserId,
            Outcome = evt.Status,
            Message = notification.Message,
            Timestamp = notification.SentAt,
        });
        LogNotified(evt.OrderId, evt.Status);
    }

    private static string MessageFor(OrderStatusChanged evt) => evt.Status switch
    {
        "Completed" => $"Your order {evt.OrderId} is confirmed. Amount charged: {evt.TotalAmount:0.00}.",
        "Rejected" => $"Sorry, we could not accept order {evt.OrderId} ({evt.Reason}).",
        _ => $"Your order {evt.OrderId} was cancelled ({evt.Reason}). Any reserved stock was released and any charge refunded.",
    };

    [LoggerMessage(LogLevel.Debug, "Notified the customer of order {OrderId}: {Outcome}")]
    private partial void LogNotified(string orderId, string outcome);
}
