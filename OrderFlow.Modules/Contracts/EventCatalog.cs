namespace OrderFlow.Contracts;

/// <summary>Every event type of the contract, with the versions that exist on the wire.</summary>
public static class EventCatalog
{
    public static readonly IReadOnlyDictionary<string, Type> Types = new Dictionary<string, Type>
    {
        [nameof(OrderCreated)] = typeof(OrderCreated),
        [nameof(OrderStatusChanged)] = typeof(OrderStatusChanged),
        [nameof(OrderCancelled)] = typeof(OrderCancelled),
        [nameof(InventoryReserved)] = typeof(InventoryReserved),
        [nameof(InventoryReservationFailed)] = typeof(InventoryReservationFailed),
        [nameof(InventoryReleased)] = typeof(InventoryReleased),
        [nameof(PaymentCompleted)] = typeof(PaymentCompleted),
        [nameof(PaymentFailed)] = typeof(PaymentFailed),
        [nameof(PaymentRefunded)] = typeof(PaymentRefunded),
        [nameof(NotificationSent)] = typeof(NotificationSent),
    };

    /// <summary>The topic each event is published on in SPEC §3's layout (see <see cref="TopicLayout"/>).</summary>
    public static string TopicOf(Type eventType) => eventType.Name switch
    {
        nameof(OrderCreated) or nameof(OrderStatusChanged) or nameof(OrderCancelled) => Topics.OrderEvents,
        nameof(InventoryReserved) or nameof(InventoryReservationFailed) or nameof(InventoryReleased) => Topics.InventoryEvents,
        nameof(PaymentCompleted) or nameof(PaymentFailed) or nameof(PaymentRefunded) => Topics.PaymentEvents,
        nameof(NotificationSent) => Topics.Notification,
        _ => throw new ArgumentException($"{eventType.Name} is not an OrderFlow event", nameof(eventType)),
    };
}
