namespace OrderFlow.Contracts;

/// <summary>Published by Inventory on <see cref="Topics.InventoryEvents"/>: stock for every item is held.</summary>
public sealed record InventoryReserved : IntegrationEvent
{
    public required string ReservationId { get; init; }
    public string Status { get; set; } = "success";
}

/// <summary>Published by Inventory on <see cref="Topics.InventoryEvents"/>: the order cannot be served.</summary>
public sealed record InventoryReservationFailed : IntegrationEvent
{
    public string Status { get; set; } = "failed";

    /// <summary><c>insufficient_stock</c> or <c>unknown_product</c>.</summary>
    public required string Reason { get; init; }

    /// <summary>The product that could not be reserved.</summary>
    public string? ProductId { get; init; }
}

/// <summary>Published by Inventory on <see cref="Topics.InventoryEvents"/>: a reservation was released (compensation).</summary>
public sealed record InventoryReleased : IntegrationEvent
{
    public required string ReservationId { get; init; }

    /// <summary>Why: <c>payment_failed</c>, or the order's cancellation reason.</summary>
    public required string Reason { get; init; }
}
