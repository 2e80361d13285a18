using System.Diagnostics.Metrics;
using OrderFlow.Inventory.Data;
using OrderFlow.Messaging;

namespace OrderFlow.Inventory;

/// <summary>
/// Reservation outcomes, counted when the decision commits. The success rate is
/// <c>reserved / (reserved + rejected)</c> of <c>orderflow.inventory.reservations</c>.
/// </summary>
internal sealed class InventoryMetrics
{
    private readonly Counter<long> reservations;
    private readonly Counter<long> releases;

    public InventoryMetrics(IMeterFactory meters)
    {
        var meter = meters.Create(MessagingTelemetry.Name);
        reservations = meter.CreateCounter<long>("orderflow.inventory.reservations", "{reservation}", "Reservation decisions, by result (reserved, rejected) and reason");
        releases = meter.CreateCounter<long>("orderflow.inventory.releases", "{reservation}", "Reservations released (compensation)");
    }

    internal void Reserved(InventoryDbContext db) =>
        db.AfterCommit(() => reservations.Add(1, new("result", "reserved"), new("reason", "none")));

    internal void Rejected(InventoryDbContext db, string reason) =>
        db.AfterCommit(() => reservations.Add(1, new("result", "rejected"), new("reason", reason)));

    internal void Released(InventoryDbContext db) => db.AfterCommit(() => releases.Add(1));
}
