namespace OrderFlow.Contracts;

/// <summary>One line of an order.</summary>
public sealed record OrderItem(string ProductId, int Quantity, decimal Price);

/// <summary>
/// Published by Orders on <see cref="Topics.OrderEvents"/> when an order is accepted.
/// Version 1 is the original design's event; version 2 adds <see cref="Currency"/> and
/// <see cref="ShippingAddress"/> (both optional for v1 readers).
/// </summary>
public sealed record OrderCreated : IntegrationEvent
{
    public required string UserId { get; init; }
    public required IReadOnlyList<OrderItem> Items { get; init; }

    /// <summary>Computed by the server: sum of quantity × price.</summary>
    public required decimal TotalAmount { get; init; }

    /// <summary>ISO 4217 code; v2 only.</summary>
    public string? Currency { get; init; }

    /// <summary>Where to ship; v2 only.</summary>
    public ShippingAddress? ShippingAddress { get; init; }
}

/// <summary>Shipping address of an order (OrderCreated v2).</summary>
public sealed record ShippingAddress(string Line1, string City, string PostalCode, string Country);

/// <summary>
/// Published by Orders on <see cref="Topics.OrderEvents"/> for every transition of an order's
/// state machine. Terminal statuses are <c>Completed</c>, <c>Rejected</c> and <c>Cancelled</c>.
/// </summary>
public sealed record OrderStatusChanged : IntegrationEvent
{
    public required string UserId { get; init; }
    public required string PreviousStatus { get; init; }
    public required string Status { get; init; }
    public string? Reason { get; init; }
    public required decimal TotalAmount { get; init; }
    public required bool IsTerminal { get; init; }
}

/// <summary>
/// Published by Orders on <see cref="Topics.OrderEvents"/> when an order is cancelled (payment
/// failed, cancelled by the user, or timed out). Inventory releases its reservation and Payment
/// refunds a charge, if any.
/// </summary>
public sealed record OrderCancelled : IntegrationEvent
{
    public required string Reason { get; init; }
}
