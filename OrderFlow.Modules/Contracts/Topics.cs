namespace OrderFlow.Contracts;

/// <summary>Topic names. Each topic is owned by the module that publishes to it.</summary>
public static class Topics
{
    /// <summary>Published by Orders: <see cref="OrderCreated"/>, <see cref="OrderStatusChanged"/>, <see cref="OrderCancelled"/>.</summary>
    public const string OrderEvents = "order-events";

    /// <summary>Published by Inventory: reservation results and releases.</summary>
    public const string InventoryEvents = "inventory-events";

    /// <summary>Published by Payment: charges, failures and refunds.</summary>
    public const string PaymentEvents = "payment-events";

    /// <summary>Published by Notification: one message per terminal outcome of an order.</summary>
    public const string Notification = "notification";

    /// <summary>Suffix of the dead-letter topic of every consumed topic.</summary>
    public const string DeadLetterSuffix = ".dlq";

    public static string DeadLetter(string topic) => topic + DeadLetterSuffix;

    /// <summary>Topics carrying events.</summary>
    public static readonly IReadOnlyList<string> EventTopics = [OrderEvents, InventoryEvents, PaymentEvents, Notification];

    /// <summary>Every topic OrderFlow uses, dead-letter topics included.</summary>
    public static IReadOnlyList<string> All => [.. EventTopics, .. EventTopics.Select(DeadLetter)];
}
