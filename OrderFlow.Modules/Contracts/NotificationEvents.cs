namespace OrderFlow.Contracts;

/// <summary>Published by Notification on <see cref="Topics.Notification"/>: the customer was told the outcome.</summary>
public sealed record NotificationSent : IntegrationEvent
{
    public required string NotificationId { get; init; }
    public required string UserId { get; init; }
    public required string Outcome { get; init; }
    public required string Message { get; init; }
}
