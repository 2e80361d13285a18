namespace OrderFlow.Notification;

/// <summary>Notification module settings (<c>OrderFlow:Modules:Notification</c>).</summary>
public sealed class NotificationOptions
{
    public bool Enabled { get; set; } = true;
}
