using OrderFlow.Contracts;

namespace OrderFlow.Messaging;

/// <summary>
/// Applies one event to a module's state. Runs inside the module's transaction: the inbox row,
/// every change made through the module's DbContext and every event added to the outbox commit
/// together, or not at all.
/// <para>
/// The loop saves once per batch. What a handler can rely on: <c>FindAsync</c> sees every row
/// of the batch (it looks in the change tracker first); a query (<c>AnyAsync</c>,
/// <c>FirstOrDefaultAsync</c>…) sees the rows of earlier events of the <em>same order</em>,
/// because the loop saves before applying a second event of an order, but not unsaved rows of
/// other orders. So look up rows of other orders with <c>FindAsync</c> only.
/// </para>
/// </summary>
public interface IEventHandler<in TEvent> where TEvent : IntegrationEvent
{
    Task HandleAsync(TEvent evt, Outbox outbox, CancellationToken cancellationToken);
}

/// <summary>A failure that retrying cannot fix: the message goes to the dead-letter topic at once.</summary>
public class PermanentMessageException(string message, Exception? inner = null) : Exception(message, inner);
