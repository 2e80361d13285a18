namespace OrderFlow.Contracts;

/// <summary>Published by Payment on <see cref="Topics.PaymentEvents"/>: the order's amount was charged.</summary>
public sealed record PaymentCompleted : IntegrationEvent
{
    public required string PaymentId { get; init; }
    public string Status { get; set; } = "success";
    public required decimal Amount { get; init; }
}

/// <summary>Published by Payment on <see cref="Topics.PaymentEvents"/>: the charge was declined.</summary>
public sealed record PaymentFailed : IntegrationEvent
{
    public string Status { get; set; } = "failed";
    public required decimal Amount { get; init; }
    public required string Reason { get; init; }
}

/// <summary>Published by Payment on <see cref="Topics.PaymentEvents"/>: a charge was refunded (compensation).</summary>
public sealed record PaymentRefunded : IntegrationEvent
{
    public required string PaymentId { get; init; }
    public required decimal Amount { get; init; }
    public required string Reason { get; init; }
}
