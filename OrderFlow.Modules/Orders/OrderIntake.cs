using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OrderFlow.Orders.Data;

namespace OrderFlow.Orders;

/// <summary>
/// Group commit for orders placed one at a time (<c>POST /orders</c>): the orders that arrive
/// while a transaction waits for the write turn or commits go into the next one, together, with
/// the prepared statements of the load generator's path (<see cref="OrderPlacement.InsertAsync"/>).
/// An order placed alone still commits at once; under load the writes share a transaction instead
/// of queueing for the file's write turn one by one behind the consumers' batches
/// (docs/benchmarks.md, twenty-seventh session).
/// <para>
/// Each caller learns its own outcome only after the transaction holding its order committed. Two
/// requests of one transaction with one idempotency key get one order: the first creates it, the
/// other is answered as a retry of it. If a transaction fails — a key that a transaction committed
/// since the caller looked it up, or any other error — nothing of it is kept, and each of its
/// orders is placed again in a transaction of its own (<see cref="OrderPlacement.PlaceAloneAsync"/>),
/// so one bad order never fails the others and each caller gets its own answer or error.
/// </para>
/// </summary>
public sealed partial class OrderIntake(IServiceScopeFactory scopes, ILogger<OrderIntake> logger)
{
    /// <summary>The most orders one transaction takes.</summary>
    internal const int MaxBatch = 256;

    private readonly ConcurrentQueue<Placing> queue = new();
    private int draining;
    private int writing;
    private long transactions;

    /// <summary>How many transactions the intake has committed or tried, for tests.</summary>
    internal long Transactions => Interlocked.Read(ref transactions);

    /// <summary>How many orders wait for the next transaction, for tests.</summary>
    internal int Queued => queue.Count;

    /// <summary>How many orders wait for the next transaction or are in the one being written, for tests.</summary>
    internal int Waiting => queue.Count + Volatile.Read(ref writing);

    /// <summary>Queues the order for the next transaction; completes when it has committed (or failed).</summary>
    internal Task<PlaceResult> PlaceAsync(PendingOrder order)
    {
        // Asynchronous continuations: the callers go on on their own threads, not on the writer's.
        var placing = new Placing(order, new TaskCompletionSource<PlaceResult>(TaskCreationOptions.RunContinuationsAsynchronously));
        queue.Enqueue(placing);
        if (Interlocked.CompareExchange(ref draining, 1, 0) == 0)
        {
            // Without the caller's execution context: the writer serves every caller, and the
            // first one's request span or log scope is not the others'.
            using (ExecutionContext.SuppressFlow()) _ = Task.Run(DrainAsync);
        }
        return placing.Result.Task;
    }

    private async Task DrainAsync()
    {
        var batch = new List<Placing>(MaxBatch);
        while (true)
        {
            while (batch.Count < MaxBatch && queue.TryDequeue(out var next)) batch.Add(next);
            if (batch.Count == 0)
            {
                Volatile.Write(ref draining, 0);
                // A caller that queued after the last look, while this still drained, started no writer.
                if (queue.IsEmpty || Interlocked.CompareExchange(ref draining, 1, 0) != 0) return;
                continue;
            }
            Volatile.Write(ref writing, batch.Count);
            try
            {
                await WriteAsync(batch);
            }
            catch (Exception ex)
            {
                // Not expected (WriteAsync answers every caller itself), but a writer that ended
                // here would leave every later caller waiting: these get the error, the loop goes on.
                foreach (var placing in batch) placing.Result.TrySetException(ex);
            }
            Volatile.Write(ref writing, 0);
            batch.Clear();
        }
    }

    /// <summary>Writes one batch and answers each of its callers; never throws.</summary>
    private async Task WriteAsync(List<Placing> batch)
    {
        // The first request of each key is placed; a later one with the same key is answered from it.
        var placed = new List<Placing>(batch.Count);
        var sameKey = new List<(Placing Placing, int First)>();
        Dictionary<string, int>? keys = null;
        foreach (var placing in batch)
        {
            if (placing.Order.IdempotencyKey is { } key)
            {
                keys ??= new(StringComparer.Ordinal);
                if (keys.TryGetValue(key, out var first))
                {
                    sameKey.Add((placing, first));
                    continue;
                }
                keys.Add(key, placed.Count);
            }
            placed.Add(placing);
        }

        Interlocked.Increment(ref transactions);
        IReadOnlyList<Order> orders;
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            // The callers' cancellation does not reach the transaction: it holds the others' orders too.
            orders = await scope.ServiceProvider.GetRequiredService<OrderPlacement>()
                .InsertAsync(placed.Select(w => w.Order).ToList(), "orders.intake-held", CancellationToken.None);
        }
        catch (Exception ex)
        {
            // Rolled back: nothing of it is in the store. (After its commit InsertAsync only hands
            // the rows to the relay, which does not throw, and counts them in an after-commit
            // action, whose failure ModuleDbContext logs instead of throwing; a failure reported
            // from there would place the orders twice.)
            if (IsConstraint(ex)) LogKeyRace(batch.Count);
            else LogPlacingAlone(ex, batch.Count);
            foreach (var placing in batch) await PlaceAloneAsync(placing);
            return;
        }

        for (var i = 0; i < placed.Count; i++) placed[i].Result.TrySetResult(new PlaceResult(PlaceOutcome.Created, orders[i]));
        foreach (var (placing, first) in sameKey) placing.Result.TrySetResult(OrderPlacement.Replay(orders[first], placing.Order.Hash));
    }

    private static bool IsConstraint(Exception? ex)
    {
        for (; ex is not null; ex = ex.InnerException)
            if (ex is Microsoft.Data.Sqlite.SqliteException { SqliteErrorCode: 19 }) return true; // SQLITE_CONSTRAINT
        return false;
    }

    private async Task PlaceAloneAsync(Placing placing)
    {
        try
        {
            Interlocked.Increment(ref transactions);
            await using var scope = scopes.CreateAsyncScope();
            placing.Result.TrySetResult(await scope.ServiceProvider.GetRequiredService<OrderPlacement>().PlaceAloneAsync(placing.Order, CancellationToken.None));
        }
        catch (Exception ex)
        {
            placing.Result.TrySetException(ex);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "A transaction of {Count} placed orders failed; placing each of them alone")]
    private partial void LogPlacingAlone(Exception ex, int count);

    [LoggerMessage(Level = LogLevel.Debug, Message = "An idempotency key of a transaction of {Count} placed orders was committed meanwhile; placing each of them alone")]
    private partial void LogKeyRace(int count);

    private sealed class Placing(PendingOrder order, TaskCompletionSource<PlaceResult> result)
    {
        public PendingOrder Order { get; } = order;
        public TaskCompletionSource<PlaceResult> Result { get; } = result;
    }
}
