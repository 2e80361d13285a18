using Microsoft.EntityFrameworkCore;
using OrderFlow.Inventory.Data;
using OrderFlow.Notification.Data;
using OrderFlow.Orders.Data;
using OrderFlow.Payment.Data;
using OrderFlow.Persistence;

namespace OrderFlow.Host.Cli;

public sealed record InvariantResult(int Number, string Name, int Checked, IReadOnlyList<string> Violations)
{
    public bool Holds => Violations.Count == 0;
}

/// <summary>
/// Checks SPEC §8 against the store. It reads every module's tables, which no module may do; it is
/// an operator's tool, not a module. <paramref name="grace"/> leaves time for events still in flight.
/// </summary>
public sealed class InvariantChecker(
    OrdersDbContext orders, InventoryDbContext inventory, PaymentDbContext payment, NotificationDbContext notification, TimeProvider clock)
{
    public async Task<IReadOnlyList<InvariantResult>> CheckAsync(TimeSpan sagaTimeout, TimeSpan grace, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var allOrders = await orders.Orders.AsNoTracking()
            .Select(o => new { o.Id, o.Status, o.CreatedAt, o.TerminalAt })
            .ToListAsync(cancellationToken);
        var stock = await inventory.Stock.AsNoTracking().ToListAsync(cancellationToken);
        var reservations = await inventory.Reservations.AsNoTracking().Include(r => r.Lines).ToListAsync(cancellationToken);
        var ledger = await payment.Ledger.AsNoTracking().ToListAsync(cancellationToken);
        var notifications = await notification.Notifications.AsNoTracking().Select(n => new { n.OrderId, n.Outcome }).ToListAsync(cancellationToken);

        var settled = allOrders.Where(o => o.TerminalAt is { } at && at < now - grace).ToList();
        var reservationByOrder = reservations.GroupBy(r => r.OrderId).ToDictionary(g => g.Key, g => g.ToList());
        var ledgerByOrder = ledger.GroupBy(e => e.OrderId).ToDictionary(g => g.Key, g => g.ToList());
        var notificationsByOrder = notifications.GroupBy(n => n.OrderId).ToDictionary(g => g.Key, g => g.ToList());
        var known = allOrders.Select(o => o.Id).ToHashSet();

        var results = new List<InvariantResult>();

        var stuck = allOrders.Where(o => !Order.IsTerminalStatus(o.Status) && o.CreatedAt < now - sagaTimeout - grace)
            .Select(o => $"{o.Id} is {o.Status} since {o.CreatedAt:O}").ToList();
        results.Add(new(1, "Every order is terminal or younger than the saga deadline", allOrders.Count, stuck));

        var stockViolations = new List<string>();
        var held = reservations.Where(r => r.Status == ReservationStatus.Reserved).SelectMany(r => r.Lines)
            .GroupBy(l => l.ProductId).ToDictionary(g => g.Key, g => g.Sum(l => l.Quantity));
        foreach (var item in stock)
        {
            var reserved = held.GetValueOrDefault(item.ProductId);
            if (item.Available < 0) stockViolations.Add($"{item.ProductId}: available is negative ({item.Available})");
            if (item.InitialQuantity != item.Available + reserved)
                stockViolations.Add($"{item.ProductId}: initial {item.InitialQuantity} ≠ available {item.Available} + reserved {reserved}");
        }
        foreach (var productId in held.Keys.Where(p => stock.All(s => s.ProductId != p)))
            stockViolations.Add($"{productId}: reserved but not in the catalogue");
        foreach (var order in settled.Where(o => o.Status != OrderStatus.Completed))
            if (reservationByOrder.TryGetValue(order.Id, out var rs) && rs.Any(r => r.Status == ReservationStatus.Reserved))
                stockViolations.Add($"{order.Id}: {order.Status} but its stock is still reserved");
        results.Add(new(2, "Stock is conserved and never negative", stock.Count, stockViolations));

        var money = new List<string>();
        foreach (var (orderId, entries) in ledgerByOrder)
        {
            var charges = entries.Count(e => e.Kind == LedgerKind.Charge);
            var refunds = entries.Count(e => e.Kind == LedgerKind.Refund);
            if (!known.Contains(orderId)) money.Add($"{orderId}: ledger entries for an unknown order");
            if (charges > 1) money.Add($"{orderId}: charged {charges} times");
            if (refunds > charges) money.Add($"{orderId}: {refunds} refund(s) for {charges} charge(s)");
        }
        foreach (var order in allOrders.Where(o => o.Status == OrderStatus.Completed))
        {
            var entries = ledgerByOrder.GetValueOrDefault(order.Id) ?? [];
            if (entries.Count(e => e.Kind == LedgerKind.Charge) != 1 || entries.Any(e => e.Kind == LedgerKind.Refund))
                money.Add($"{order.Id}: Completed without exactly one standing charge");
            if (!reservationByOrder.TryGetValue(order.Id, out var rs) || !rs.Any(r => r.Status == ReservationStatus.Reserved))
                money.Add($"{order.Id}: Completed without a reservation");
        }
        foreach (var order in settled.Where(o => o.Status != OrderStatus.Completed))
        {
            var entries = ledgerByOrder.GetValueOrDefault(order.Id) ?? [];
            if (entries.Count(e => e.Kind == LedgerKind.Charge) > entries.Count(e => e.Kind == LedgerKind.Refund))
                money.Add($"{order.Id}: {order.Status} but its charge was not refunded");
        }
        results.Add(new(3, "Charged at most once; refunds only for charges; Completed means one charge and a reservation", ledger.Count, money));

        var notices = new List<string>();
        foreach (var (orderId, list) in notificationsByOrder.Where(kv => kv.Value.Count > 1))
            notices.Add($"{orderId}: {list.Count} notifications");
        foreach (var order in settled)
        {
            var list = notificationsByOrder.GetValueOrDefault(order.Id) ?? [];
            if (list.Count == 0) notices.Add($"{order.Id}: {order.Status} but no notification");
            else if (list.Count == 1 && list[0].Outcome != order.Status.ToString()) notices.Add($"{order.Id}: notified {list[0].Outcome} but is {order.Status}");
        }
        foreach (var order in allOrders.Where(o => !Order.IsTerminalStatus(o.Status)))
            if (notificationsByOrder.ContainsKey(order.Id)) notices.Add($"{order.Id}: notified before reaching a terminal state");
        results.Add(new(4, "Exactly one notification per terminal outcome", notifications.Count, notices));

        var delivery = new List<string>();
        var cutoff = now - grace;
        foreach (var (module, db) in new (string, ModuleDbContext)[] { ("orders", orders), ("inventory", inventory), ("payment", payment), ("notification", notification) })
        {
            var stale = await db.OutboxMessages.CountAsync(m => m.CreatedAt < cutoff, cancellationToken);
            if (stale > 0) delivery.Add($"{module}: {stale} outbox row(s) unsent for more than {grace.TotalSeconds:0} s");
            var doubled = await db.Inbox.GroupBy(i => i.EventId).Where(g => g.Count() > 1).CountAsync(cancellationToken);
            if (doubled > 0) delivery.Add($"{module}: {doubled} event(s) in the inbox twice");
        }
        results.Add(new(5, "No event applied twice per module; no outbox row left unsent", 4, delivery));
        return results;
    }
}
