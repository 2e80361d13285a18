using OrderFlow.Orders.Data;

namespace OrderFlow.Orders.Api;

/// <summary>What <c>GET /orders/{id}</c> returns.</summary>
public sealed record OrderView(
    string OrderId, string UserId, string Status, string? Reason, string? PaymentFailure,
    IReadOnlyList<OrderLineView> Items, decimal TotalAmount, string? Currency, OrderAddress? ShippingAddress,
    string? ReservationId, string? PaymentId, string TraceId,
    DateTime CreatedAt, DateTime UpdatedAt, DateTime? TerminalAt, bool IsTerminal,
    IReadOnlyList<OrderTransitionView> History)
{
    public static OrderView From(Order order) => new(
        order.Id, order.UserId, order.Status.ToString(), order.Reason, order.PaymentFailure,
        order.Items.Select(i => new OrderLineView(i.ProductId, i.Quantity, i.Price, i.Quantity * i.Price)).ToList(),
        order.TotalAmount, order.Currency, order.ShippingAddress, order.ReservationId, order.PaymentId,
        Messaging.Tracing.TraceIdOf(order.TraceParent), order.CreatedAt, order.UpdatedAt, order.TerminalAt, order.IsTerminal,
        order.History.Select(h => new OrderTransitionView(h.From, h.To, h.Reason, h.At)).ToList());
}

public sealed record OrderLineView(string ProductId, int Quantity, decimal Price, decimal LineTotal);

public sealed record OrderTransitionView(string From, string To, string? Reason, DateTime At);

/// <summary>One row of <c>GET /orders</c>.</summary>
public sealed record OrderSummary(string OrderId, string UserId, string Status, string? Reason, decimal TotalAmount, DateTime CreatedAt, DateTime UpdatedAt);

public sealed record OrderPage(IReadOnlyList<OrderSummary> Items, int Page, int PageSize, int Total);

/// <summary>What <c>POST /orders</c> returns.</summary>
public sealed record OrderAccepted(string OrderId, string Status, decimal TotalAmount, string Location);
