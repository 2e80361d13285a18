using System.Diagnostics.Metrics;
using OrderFlow.Messaging;
using OrderFlow.Payment.Data;

namespace OrderFlow.Payment;

/// <summary>
/// Charge outcomes and refunds, counted when they commit. The payment success rate is
/// <c>completed / (completed + failed)</c> of <c>orderflow.payment.charges</c>.
/// </summary>
internal sealed class PaymentMetrics
{
    private readonly Counter<long> charges;
    private readonly Counter<long> refunds;

    public PaymentMetrics(IMeterFactory meters)
    {
        var meter = meters.Create(MessagingTelemetry.Name);
        charges = meter.CreateCounter<long>("orderflow.payment.charges", "{charge}", "Charges decided by the gateway, by result (completed, failed) and reason");
        refunds = meter.CreateCounter<long>("orderflow.payment.refunds", "{refund}", "Charges refunded after a cancellation");
    }

    internal void Completed(PaymentDbContext db) =>
        db.AfterCommit(() => charges.Add(1, new("result", "completed"), new("reason", "none")));

    internal void Failed(PaymentDbContext db, string reason) =>
        db.AfterCommit(() => charges.Add(1, new("result", "failed"), new("reason", reason)));

    internal void Refunded(PaymentDbContext db) => db.AfterCommit(() => refunds.Add(1));
}
