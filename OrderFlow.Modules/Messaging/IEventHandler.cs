using OrderFlow.Contracts;

namespace OrderFlow.Messaging;

/// <summary>
/// Applies one event to a module's state. Runs inside the module's transaction: the inbox row,
/// every change made through the module's DbContext and every event added to the outbox commit
/// together, or not at all.
/// </summary>
public interface IEventHandler<in TEvent> where TEvent : IntegrationEvent
{
    Task HandleAsync(TEvent evt, Outbox outbox, CancellationToken cancellationToken);
}

/// <summary>A failure that retrying cannot fix: the message goes to the dead-letter topic at once.</summary>
public class PermanentMessageException(string message, Exception? inner = null) : Exception(message, inner);
