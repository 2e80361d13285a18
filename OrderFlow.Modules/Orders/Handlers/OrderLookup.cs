using OrderFlow.Messaging;
using OrderFlow.Orders.Data;

namespace OrderFlow.Orders.Handlers;

internal static class OrderLookup
{
    /// <summary>The order an event refers to. Orders creates every order itself, so an unknown id can never succeed on retry.</summary>
    public static async Task<Order> LoadAsync(this OrdersDbContext db, string orderId, CancellationToken cancellationToken) =>
        await db.FindOfOrderAsync(orderId, o => o.Id == orderId, ct => db.Orders.FindAsync([orderId], ct).AsTask(), cancellationToken)
        ?? throw new PermanentMessageException($"unknown order {orderId}");
}
