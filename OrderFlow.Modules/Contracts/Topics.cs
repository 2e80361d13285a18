using System.Text.RegularExpressions;

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

    /// <summary>SPEC §3's topics carrying events (a <see cref="TopicLayout"/> may add one for the order status changes).</summary>
    public static readonly IReadOnlyList<string> EventTopics = [OrderEvents, InventoryEvents, PaymentEvents, Notification];
}

/// <summary>
/// Which topic each event is published on. <see cref="Default"/> is SPEC §3's layout: Orders
/// publishes all its events on <c>order-events</c>. <c>Kafka:OrderStatusTopic</c> can give the
/// order status changes a topic of their own: Inventory and Payment read <c>order-events</c> for
/// <see cref="OrderCreated"/> and <see cref="OrderCancelled"/> only, and otherwise receive and
/// skip the three status changes of every order (two thirds of what they read there); with the
/// changes elsewhere they do not (docs/benchmarks.md, fourteenth session: +11 % orders/s).
/// </summary>
public sealed partial class TopicLayout
{
    public static readonly TopicLayout Default = new(Topics.OrderEvents);

    /// <param name="orderStatus">Where <see cref="OrderStatusChanged"/> goes: <c>order-events</c> or a topic OrderFlow uses for nothing else.</param>
    public TopicLayout(string orderStatus)
    {
        if (Problem(orderStatus) is { } problem) throw new ArgumentException(problem, nameof(orderStatus));
        OrderStatus = orderStatus;
        EventTopics = orderStatus == Topics.OrderEvents ? Topics.EventTopics : [.. Topics.EventTopics, orderStatus];
        All = [.. EventTopics, .. EventTopics.Select(Topics.DeadLetter)];
    }

    /// <summary>The topic of <see cref="OrderStatusChanged"/>.</summary>
    public string OrderStatus { get; }

    /// <summary>Topics carrying events.</summary>
    public IReadOnlyList<string> EventTopics { get; }

    /// <summary>Every topic OrderFlow uses, dead-letter topics included.</summary>
    public IReadOnlyList<string> All { get; }

    public string TopicOf(Type eventType) => eventType == typeof(OrderStatusChanged) ? OrderStatus : EventCatalog.TopicOf(eventType);

    /// <summary>Why <paramref name="orderStatus"/> cannot be the status changes' topic, or null when it can.</summary>
    public static string? Problem(string? orderStatus) => orderStatus switch
    {
        null or "" => "Kafka:OrderStatusTopic is empty; leave it at order-events or name a topic of its own",
        _ when !TopicName().IsMatch(orderStatus) =>
            $"Kafka:OrderStatusTopic '{orderStatus}' is not a Kafka topic name (letters, digits, '.', '_' and '-', at most 249)",
        _ when orderStatus.EndsWith(Topics.DeadLetterSuffix, StringComparison.Ordinal) =>
            $"Kafka:OrderStatusTopic '{orderStatus}' ends in {Topics.DeadLetterSuffix}, the suffix of dead-letter topics",
        _ when orderStatus != Topics.OrderEvents && Topics.EventTopics.Contains(orderStatus) =>
            $"Kafka:OrderStatusTopic '{orderStatus}' is another module's topic; use order-events or a topic of its own",
        _ => null,
    };

    [GeneratedRegex("^[a-zA-Z0-9._-]{1,249}$")]
    private static partial Regex TopicName();
}
