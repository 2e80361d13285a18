using OrderFlow.Contracts;
using OrderFlow.Messaging;

namespace OrderFlow.Orders.Data;

public enum OrderStatus
{
    Created,
    InventoryReserved,
    Paid,
    Completed,
    Rejected,
    Cancelled,
}

/// <summary>Why an order was cancelled or rejected; the wire form is the snake_case text.</summary>
public static class OrderReasons
{
    public const string PaymentFailed = "payment_failed";
    public const string UserCancelled = "user_cancelled";
    public const string TimedOut = "timed_out";
    public const string InsufficientStock = "insufficient_stock";
    public const string UnknownProduct = "unknown_product";
}

/// <summary>One line of an order, stored inside the order row.</summary>
public sealed class OrderLine
{
    public required string ProductId { get; set; }
    public int Quantity { get; set; }
    public decimal Price { get; set; }
}

/// <summary>Where an order ships to (OrderCreated v2), stored inside the order row.</summary>
public sealed class OrderAddress
{
    public required string Line1 { get; set; }
    public required string City { get; set; }
    public required string PostalCode { get; set; }
    public required string Country { get; set; }
}

/// <summary>One transition of the order's state machine, stored inside the order row.</summary>
public sealed class OrderTransition
{
    public required string From { get; set; }
    public required string To { get; set; }
    public string? Reason { get; set; }
    public DateTime At { get; set; }
}

/// <summary>
/// The order state machine: Created → InventoryReserved → Paid → Completed, with Rejected and
/// Cancelled as the other terminal states. Every applied transition is recorded in
/// <see cref="History"/> and announced with <see cref="OrderStatusChanged"/>; an illegal one throws
/// <see cref="IllegalTransitionException"/> and changes nothing.
/// </summary>
public sealed class Order : OrderFlow.Persistence.IOrderRow
{
    // The consumers find a batch's orders by this (ModuleDbContext.FindOfOrderAsync); not mapped.
    string OrderFlow.Persistence.IOrderRow.OrderId => Id;

    private static readonly Dictionary<OrderStatus, OrderStatus[]> Allowed = new()
    {
        [OrderStatus.Created] = [OrderStatus.InventoryReserved, OrderStatus.Rejected, OrderStatus.Cancelled],
        [OrderStatus.InventoryReserved] = [OrderStatus.Paid, OrderStatus.Cancelled],
        [OrderStatus.Paid] = [OrderStatus.Completed, OrderStatus.Cancelled],
        [OrderStatus.Completed] = [],
        [OrderStatus.Rejected] = [],
        [OrderStatus.Cancelled] = [],
    };

    public required string Id { get; init; }
    public required string UserId { get; init; }
    public OrderStatus Status { get; private set; } = OrderStatus.Created;
    public string? Reason { get; private set; }
    public decimal TotalAmount { get; init; }
    public string? Currency { get; init; }
    public OrderAddress? ShippingAddress { get; init; }
    public List<OrderLine> Items { get => items.List; init => items = new(value); }
    public List<OrderTransition> History { get => history.List; init => history = new(value); }

    private readonly JsonListColumn<OrderLine> items = new([]);
    private readonly JsonListColumn<OrderTransition> history = new([]);

    /// <summary>The <c>items</c> column: <see cref="Items"/> as JSON, parsed only when <see cref="Items"/> is read (<see cref="JsonListColumn{T}"/>).</summary>
    internal string ItemsJson { get => items.Json; set => items.Json = value; }

    /// <summary>The <c>history</c> column: <see cref="History"/> as JSON, appended to as text by <see cref="MoveTo"/>.</summary>
    internal string HistoryJson { get => history.Json; set => history.Json = value; }
    public string? ReservationId { get; set; }
    public string? PaymentId { get; set; }
    public string? PaymentFailure { get; set; }
    public string? IdempotencyKey { get; init; }
    public string? RequestHash { get; init; }
    public required string TraceParent { get; init; }
    public DateTime CreatedAt { get; init; }
    public DateTime UpdatedAt { get; internal set; }
    public DateTime? PaidAt { get; private set; }
    public DateTime? TerminalAt { get; private set; }

    /// <summary>Optimistic concurrency token: a second writer of the same row fails instead of overwriting.</summary>
    public int Version { get; private set; }

    public bool IsTerminal => IsTerminalStatus(Status);

    public static bool IsTerminalStatus(OrderStatus status) =>
        status is OrderStatus.Completed or OrderStatus.Rejected or OrderStatus.Cancelled;

    public bool CanMoveTo(OrderStatus next) => Allowed[Status].Contains(next);

    /// <summary>Applies a transition and adds <see cref="OrderStatusChanged"/> (and <see cref="OrderCancelled"/> when cancelling) to the outbox.</summary>
    public void MoveTo(OrderStatus next, string? reason, DateTime at, Outbox outbox)
    {
        if (!CanMoveTo(next))
            throw new IllegalTransitionException($"order {Id} cannot move from {Status} to {next}");

        var previous = Status;
        Status = next;
        // The reason names why an order ended; notes on intermediate steps stay in the history.
        if (IsTerminalStatus(next)) Reason = reason;
        UpdatedAt = at;
        Version++;
        if (next == OrderStatus.Paid) PaidAt = at;
        if (IsTerminal) TerminalAt = at;
        history.Add(new OrderTransition { From = previous.ToString(), To = next.ToString(), Reason = reason, At = at });

        outbox.Add(new OrderStatusChanged
        {
            OrderId = Id,
            UserId = UserId,
            PreviousStatus = previous.ToString(),
            Status = next.ToString(),
            Reason = reason,
            TotalAmount = TotalAmount,
            IsTerminal = IsTerminal,
            Timestamp = at,
        });
        if (next == OrderStatus.Cancelled)
            outbox.Add(new OrderCancelled { OrderId = Id, Reason = reason ?? OrderReasons.UserCancelled, Timestamp = at });
    }

    /// <summary>Version 1, the original design's event, unless the order has a currency or a shipping address (version 2).</summary>
    public OrderCreated ToCreatedEvent() => new()
    {
        OrderId = Id,
        UserId = UserId,
        Items = Items.Select(i => new OrderItem(i.ProductId, i.Quantity, i.Price)).ToList(),
        TotalAmount = TotalAmount,
        Currency = Currency,
        ShippingAddress = ShippingAddress is { } a ? new ShippingAddress(a.Line1, a.City, a.PostalCode, a.Country) : null,
        EventVersion = Currency is null && ShippingAddress is null ? 1 : 2,
        Timestamp = CreatedAt,
    };
}
