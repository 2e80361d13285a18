using OrderFlow.Contracts;

namespace OrderFlow.Messaging;

/// <summary>
/// Applies one event to a module's state. The inbox row, every change made through the module's
/// DbContext and every event added to the outbox commit together, or not at all.
/// <para>
/// A handler runs <em>before</em> its batch takes the write turn, on rows read at one version of
/// the module; if another transaction of the module commits before the batch writes, the batch's
/// changes are dropped and its handlers run again, inside the turn. So a handler changes nothing
/// but its DbContext and outbox, and anything else it calls must be safe to call twice for the
/// same event (the payment gateway is called with the order id as its idempotency key).
/// </para>
/// <para>
/// A batch writes once, at its end. What a handler can rely on: <c>FindAsync</c> sees every row
/// of the batch (it looks in the change tracker first); a query (<c>AnyAsync</c>,
/// <c>FirstOrDefaultAsync</c>…) sees the rows of earlier events of the <em>same order</em>,
/// because a second event of an order starts a new transaction, but not unsaved rows of
/// other orders. So look up rows of other orders with <c>FindAsync</c> only.
/// </para>
/// </summary>
public interface IEventHandler<in TEvent> where TEvent : IntegrationEvent
{
    Task HandleAsync(TEvent evt, Outbox outbox, CancellationToken cancellationToken);
}

/// <summary>A failure that retrying cannot fix: the message goes to the dead-letter topic at once.</summary>
public class PermanentMessageException(string message, Exception? inner = null) : Exception(message, inner);
