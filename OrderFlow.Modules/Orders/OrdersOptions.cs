using System.ComponentModel.DataAnnotations;

namespace OrderFlow.Orders;

/// <summary>Orders module settings (<c>OrderFlow:Modules:Orders</c>).</summary>
public sealed class OrdersOptions
{
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// Saga deadline: an order still not terminal this long after creation is cancelled with
    /// reason <c>timed_out</c>, which releases its stock and refunds a charge.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "7.00:00:00")]
    public TimeSpan SagaTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>How often the saga looks for orders past their deadline or hold.</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "01:00:00")]
    public TimeSpan SagaCheckInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long a paid order stays <c>Paid</c> — cancellable by the user, with a refund — before it
    /// is <c>Completed</c>. Zero completes it as soon as the payment is recorded.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "7.00:00:00")]
    public TimeSpan FulfilmentHold { get; set; } = TimeSpan.Zero;

    /// <summary>Largest page <c>GET /orders</c> returns.</summary>
    [Range(1, 1000)]
    public int MaxPageSize { get; set; } = 100;
}
