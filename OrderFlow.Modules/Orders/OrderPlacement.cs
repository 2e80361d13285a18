using System.Security.Cryptography;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using OrderFlow.Contracts;
using OrderFlow.Messaging;
using OrderFlow.Persistence;
using OrderFlow.Orders.Api;
using OrderFlow.Orders.Data;

namespace OrderFlow.Orders;

public enum PlaceOutcome { Created, Replayed, KeyConflict }

public sealed record PlaceResult(PlaceOutcome Outcome, Order Order);

public enum CancelOutcome { Cancelled, NotFound, AlreadyTerminal }

public sealed record CancelResult(CancelOutcome Outcome, Order? Order);

/// <summary>A validated order line, as the placement service takes it.</summary>
public sealed record NewOrderLine(string ProductId, int Quantity, decimal Price);

/// <summary>A validated order, as the placement service takes it.</summary>
public sealed record NewOrder(string UserId, IReadOnlyList<NewOrderLine> Items, string? Currency = null, Contracts.ShippingAddress? ShippingAddress = null)
{
    public static NewOrder From(PlaceOrderRequest request) =>
        new(request.UserId!, request.Items!.Select(i => new NewOrderLine(i!.ProductId!, i.Quantity!.Value, i.Price!.Value)).ToList(),
            request.Currency,
            request.ShippingAddress is { } a ? new Contracts.ShippingAddress(a.Line1!, a.City!, a.PostalCode!, a.Country!) : null);
}

/// <summary>One order to place: the validated request, its idempotency key with the request's hash, and the trace it belongs to (null: the current one or a new one).</summary>
internal sealed record PendingOrder(NewOrder Request, string? IdempotencyKey, string? Hash, string? TraceParent);

/// <summary>
/// Creates and cancels orders: the order row and its events (<c>OrderCreated</c>,
/// <c>OrderCancelled</c>) commit in one transaction of the Orders store; the relay publishes them.
/// With an <see cref="OrderIntake"/> (the Orders module registers one), orders placed one at a
/// time share their transactions with the others placed meanwhile.
/// </summary>
public sealed class OrderPlacement(OrdersDbContext db, OutboxSignal<OrdersDbContext> signal, TimeProvider clock, IOptions<KafkaOptions>? kafka = null, OrderIntake? intake = null)
{
    private TopicLayout Topics => kafka?.Value.Layout ?? TopicLayout.Default;

    public static string NewOrderId() => "ORD-" + Contracts.Ids.NewVersion7().ToString("N").ToUpperInvariant();

    public async Task<PlaceResult> PlaceAsync(NewOrder request, string? idempotencyKey, CancellationToken cancellationToken)
    {
        var hash = idempotencyKey is null ? null : Hash(request);
        if (idempotencyKey is not null && await FindByKeyAsync(idempotencyKey, cancellationToken) is { } existing)
            return Replay(existing, hash);
        // The trace is the caller's (an HTTP request's), taken here: the intake writes on a thread of its own.
        var pending = new PendingOrder(request, idempotencyKey, hash, intake is null ? null : Tracing.CurrentOrNew(null));
        return intake is null
            ? await PlaceAloneAsync(pending, cancellationToken)
            : await intake.PlaceAsync(pending).WaitAsync(cancellationToken);
    }

    /// <summary>
    /// Places one order in a transaction of its own. A key that another request committed
    /// meanwhile makes the insert fail; that request's order is the answer then.
    /// </summary>
    internal async Task<PlaceResult> PlaceAloneAsync(PendingOrder pending, CancellationToken cancellationToken)
    {
        // Inserts only: a new order and its OrderCreated, which no consumer has seen yet.
        await using var transaction = await db.Database.BeginWriteTransactionAsync(cancellationToken, insertsOnly: true);
        var order = Add(pending, null);
        try
        {
            await db.SaveChangesAsync(cancellationToken);
            await transaction.CommitAsync(cancellationToken);
        }
        catch (DbUpdateException) when (pending.IdempotencyKey is { } key)
        {
            // Two requests with the same key raced; the other one won.
            await transaction.RollbackAsync(CancellationToken.None);
            db.ChangeTracker.Clear();
            var winner = await FindByKeyAsync(key, cancellationToken) ?? throw new InvalidOperationException("idempotency key vanished");
            return Replay(winner, pending.Hash);
        }
        signal.Committed(db.SavedOutboxRows());
        return new PlaceResult(PlaceOutcome.Created, order);
    }

    /// <summary>Creates many orders in one transaction (the load generator's path).</summary>
    public Task<IReadOnlyList<Order>> PlaceManyAsync(IReadOnlyList<NewOrder> requests, CancellationToken cancellationToken) =>
        InsertAsync(requests.Select(r => new PendingOrder(r, null, null, null)).ToList(), "generator.gate-held", cancellationToken);

    /// <summary>
    /// Inserts the orders, in this order, in one transaction, with the prepared statements the
    /// consumers' batches use. Their idempotency keys must differ from each other; one that is
    /// in the store already fails the whole transaction (<see cref="OrderIntake"/> then places them one by one).
    /// </summary>
    internal async Task<IReadOnlyList<Order>> InsertAsync(IReadOnlyList<PendingOrder> pending, string stage, CancellationToken cancellationToken)
    {
        // Built before the write turn is taken; the outbox rows go in untracked, as the consumers' do.
        var outboxRows = new List<OutboxMessage>(pending.Count);
        var orders = pending.Select(p => Add(p, outboxRows)).ToList();
        var save = TrackedChangesWriter.Prepare(db);
        var inserts = InboxOutboxWriter.Prepare(db, [], outboxRows);
        await using (var transaction = await db.Database.BeginWriteTransactionAsync(cancellationToken, insertsOnly: true))
        {
            var held = System.Diagnostics.Stopwatch.GetTimestamp();
            using (var statements = new StatementCache(db))
            {
                // The inserts are discarded below: the rows need not be marked saved.
                await save.ExecuteAsync(statements, cancellationToken);
                inserts.Execute(statements);
            }
            await transaction.CommitAsync(cancellationToken);
            // Still in the write turn, so the rows reach the relay in id order.
            signal.Committed(inserts.OutboxRows);
            StageTimings.Record(stage, held, pending.Count);
        }
        db.DiscardInserts();
        return orders;
    }

    /// <summary>The answer to a request whose key an order has already: that order, unless the request differs from the one that created it.</summary>
    internal static PlaceResult Replay(Order existing, string? hash) =>
        new(existing.RequestHash == hash ? PlaceOutcome.Replayed : PlaceOutcome.KeyConflict, existing);

    public async Task<CancelResult> CancelAsync(string orderId, CancellationToken cancellationToken)
    {
        await using var transaction = await db.Database.BeginWriteTransactionAsync(cancellationToken);
        var order = await db.Orders.FindAsync([orderId], cancellationToken);
        if (order is null) return new CancelResult(CancelOutcome.NotFound, null);
        if (order.IsTerminal) return new CancelResult(CancelOutcome.AlreadyTerminal, order);

        var now = clock.GetUtcNow().UtcDateTime;
        order.MoveTo(OrderStatus.Cancelled, OrderReasons.UserCancelled, now, new Outbox(db, order.TraceParent, now, Topics));
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        signal.Committed(db.SavedOutboxRows());
        return new CancelResult(CancelOutcome.Cancelled, order);
    }

    private Order Add(PendingOrder pending, List<OutboxMessage>? outboxRows)
    {
        var (request, idempotencyKey, hash, traceParent) = pending;
        var now = clock.GetUtcNow().UtcDateTime;
        var outbox = outboxRows is null ? new Outbox(db, traceParent, now, Topics) : new Outbox(outboxRows, message: null, now, Topics, traceParent);
        var order = new Order
        {
            Id = NewOrderId(),
            UserId = request.UserId,
            Items = request.Items.Select(i => new OrderLine { ProductId = i.ProductId, Quantity = i.Quantity, Price = i.Price }).ToList(),
            TotalAmount = request.Items.Sum(i => i.Quantity * i.Price),
            Currency = request.Currency,
            ShippingAddress = request.ShippingAddress is { } a
                ? new OrderAddress { Line1 = a.Line1, City = a.City, PostalCode = a.PostalCode, Country = a.Country }
                : null,
            IdempotencyKey = idempotencyKey,
            RequestHash = hash,
            TraceParent = outbox.TraceParent,
            CreatedAt = now,
            UpdatedAt = now,
        };
        order.History.Add(new OrderTransition { From = "", To = nameof(OrderStatus.Created), At = now });
        db.Insert(order);
        outbox.Add(order.ToCreatedEvent());
        return order;
    }

    private Task<Order?> FindByKeyAsync(string key, CancellationToken cancellationToken) =>
        db.Orders.AsNoTracking().FirstOrDefaultAsync(o => o.IdempotencyKey == key, cancellationToken);

    /// <summary>The request's meaning, not its spelling: 5.5 and 5.50 are the same price.</summary>
    private static string Hash(NewOrder request)
    {
        var canonical = new StringBuilder(request.UserId).Append('|').Append(request.Currency).Append('|').Append(request.ShippingAddress);
        foreach (var item in request.Items) canonical.Append('|').Append(item.ProductId).Append(':').Append(item.Quantity).Append(':').Append(item.Price.ToString("0.00", System.Globalization.CultureInfo.InvariantCulture));
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(canonical.ToString())));
    }
}
