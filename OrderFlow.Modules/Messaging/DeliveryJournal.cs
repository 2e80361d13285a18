using System.Collections.Concurrent;

namespace OrderFlow.Messaging;

/// <summary>A failed attempt at applying an event: retried later, or the last one before the dead letter.</summary>
internal sealed record DeliveryFailure(
    string Module, string OrderId, string EventType, string EventId, string Topic, int Partition, long Offset,
    int Attempt, string Error, bool DeadLettered, DateTime At);

/// <summary>
/// The most recent failed attempts of this process's consumers, for an order's timeline. It lives
/// in memory and is bounded: retries leave no row in the store (the unit of work rolled back), and
/// dead letters are kept for good in <c>&lt;topic&gt;.dlq</c>, which the timeline reads as well.
/// </summary>
internal sealed class DeliveryJournal
{
    public const int Capacity = 10_000;

    private readonly ConcurrentQueue<DeliveryFailure> failures = new();

    public void Record(DeliveryFailure failure)
    {
        failures.Enqueue(failure);
        while (failures.Count > Capacity && failures.TryDequeue(out _)) { }
    }

    public IReadOnlyList<DeliveryFailure> For(string orderId) => failures.Where(f => f.OrderId == orderId).ToList();
}
