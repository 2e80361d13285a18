using OrderFlow.Contracts;

namespace OrderFlow.Tests.Support;

/// <summary>Small builders for events: <c>AnOrderCreated().WithItem("PROD-001", 2)</c>.</summary>
public static class Builders
{
    public static OrderCreatedBuilder AnOrderCreated(string? orderId = null) => new(orderId ?? "ORD-" + Guid.NewGuid().ToString("N")[..12].ToUpperInvariant());
}

public sealed class OrderCreatedBuilder(string orderId)
{
    private readonly List<OrderItem> items = [];
    private string userId = "USER-001";

    public OrderCreatedBuilder WithItem(string productId, int quantity, decimal price = 10m)
    {
        items.Add(new OrderItem(productId, quantity, price));
        return this;
    }

    public OrderCreatedBuilder ForUser(string user)
    {
        userId = user;
        return this;
    }

    public OrderCreated Build()
    {
        return new OrderCreated
        {
            OrderId = orderId,
            UserId = userId,
            Items = items.Count == 0 ? [new OrderItem("PROD-001", 1, 10m)] : items,
            TotalAmount = (items.Count == 0 ? 10m : items.Sum(i => i.Quantity * i.Price)),
            Timestamp = DateTime.UtcNow,
        };
    }

    public static implicit operator OrderCreated(OrderCreatedBuilder builder) => builder.Build();
}
