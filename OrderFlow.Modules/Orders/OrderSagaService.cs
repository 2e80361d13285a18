using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OrderFlow.Messaging;
using OrderFlow.Persistence;
using OrderFlow.Orders.Data;

namespace OrderFlow.Orders;

/// <summary>
/// The saga's clock: cancels orders past the deadline (compensation follows from
/// <c>OrderCancelled</c>) and completes paid orders whose fulfilment hold is over.
/// </summary>
internal sealed partial class OrderSagaService(
    IServiceScopeFactory scopes, IOptions<OrdersOptions> options, IOptions<KafkaOptions> kafka, OutboxSignal<OrdersDbContext> signal,
    TimeProvider clock, ILogger<OrderSagaService> logger) : BackgroundService
{
    private static readonly OrderStatus[] Open = [OrderStatus.Created, OrderStatus.InventoryReserved, OrderStatus.Paid];

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(options.Value.SagaCheckInterval, clock, stoppingToken);
                while (await SweepAsync(stoppingToken) > 0) { }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                LogSweepFailed(ex);
            }
        }
    }

    /// <summary>One pass; returns how many orders it moved.</summary>
    internal async Task<int> SweepAsync(CancellationToken cancellationToken)
    {
        const int batch = 500;
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<OrdersDbContext>();
        var now = clock.GetUtcNow().UtcDateTime;
        var deadline = now - options.Value.SagaTimeout;
        var hold = options.Value.FulfilmentHold;

        await using var transaction = await db.Database.BeginWriteTransactionAsync(cancellationToken);
        var expired = await db.Orders.Where(o => Open.Contains(o.Status) && o.CreatedAt < deadline)
            .OrderBy(o => o.CreatedAt).Take(batch).ToListAsync(cancellationToken);
        var due = hold > TimeSpan.Zero
            ? await db.Orders.Where(o => o.Status == OrderStatus.Paid && o.PaidAt < now - hold && o.CreatedAt >= deadline)
                .OrderBy(o => o.PaidAt).Take(batch).ToListAsync(cancellationToken)
            : [];
        if (expired.Count == 0 && due.Count == 0) return 0;

        foreach (var order in expired)
        {
            using var activity = MessagingTelemetry.StartOrderActivity("orders saga timeout", order.TraceParent, "orders", order.Id);
            LogTimedOut(order.Id, order.Status);
            order.MoveTo(OrderStatus.Cancelled, OrderReasons.TimedOut, now, new Outbox(db, order.TraceParent, now, kafka.Value.Layout));
        }
        foreach (var order in due) order.MoveTo(OrderStatus.Completed, null, now, new Outbox(db, order.TraceParent, now, kafka.Value.Layout));
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        signal.Committed(db.SavedOutboxRows());
        return expired.Count + due.Count;
    }

    [LoggerMessage(LogLevel.Warning, "Order {OrderId} passed its deadline in {Status}; cancelling it")]
    private partial void LogTimedOut(string orderId, OrderStatus status);

    [LoggerMessage(LogLevel.Error, "Saga sweep failed; trying again")]
    private partial void LogSweepFailed(Exception ex);
}
