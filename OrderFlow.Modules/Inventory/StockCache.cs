using Microsoft.EntityFrameworkCore;
using OrderFlow.Inventory.Data;

namespace OrderFlow.Inventory;

/// <summary>
/// Stock levels as this process last saved them, so a batch of reservations reads no stock row.
/// The cache never decides alone; the database stays the judge:
/// <list type="bullet">
/// <item>a reservation updates the row with <c>WHERE available = &lt;cached value&gt;</c>
/// (<see cref="StockItem.Available"/> is a concurrency token) under the <c>available &gt;= 0</c>
/// check constraint: a stale value fails the batch, which clears the cache and is retried
/// from the row, so stock can never be oversold;</item>
/// <item>a rejection for missing stock re-reads the row first: a stale value fails the batch the
/// same way instead of rejecting an order the database could serve.</item>
/// </list>
/// Another process reserving the same products makes such retries frequent: the cache pays off
/// with one Inventory process per database (see docs/benchmarks.md).
/// </summary>
public sealed class StockCache
{
    private readonly Lock gate = new();
    private readonly Dictionary<string, (int Initial, int Available)> items = new(StringComparer.Ordinal);

    internal bool TryGet(string productId, out (int Initial, int Available) value)
    {
        lock (gate) return items.TryGetValue(productId, out value);
    }

    internal void Store(IEnumerable<StockItem> saved)
    {
        lock (gate)
            foreach (var item in saved) items[item.ProductId] = (item.InitialQuantity, item.Available);
    }

    /// <summary>Forgets everything: the next lookups read the rows.</summary>
    public void Clear()
    {
        lock (gate) items.Clear();
    }
}

/// <summary>A cached value disagreed with the database; the batch is retried from the rows.</summary>
public sealed class StaleStockCacheException(string message) : Exception(message);

/// <summary>
/// Stock lookups of one unit of work (one DbContext): from <see cref="StockCache"/> when it has
/// the product, else from the database. Saved values go back to the cache; a failed save clears it.
/// </summary>
internal sealed class StockLookup
{
    private readonly InventoryDbContext db;
    private readonly StockCache? cache;
    private readonly Dictionary<string, StockItem?> seen = new(StringComparer.Ordinal);
    private readonly HashSet<string> fromCache = new(StringComparer.Ordinal);

    /// <param name="cache">Null: every lookup reads the row (handler tests, tools).</param>
    public StockLookup(InventoryDbContext db, StockCache? cache)
    {
        this.db = db;
        this.cache = cache;
        if (cache is null) return;
        db.Saved += () => cache.Store(seen.Values.OfType<StockItem>());
        db.SaveFailed += cache.Clear;
    }

    public async ValueTask<StockItem?> FindAsync(string productId, CancellationToken cancellationToken)
    {
        if (seen.TryGetValue(productId, out var known)) return known;
        StockItem? item;
        if (cache is not null && cache.TryGet(productId, out var cached))
        {
            item = new StockItem { ProductId = productId, InitialQuantity = cached.Initial, Available = cached.Available };
            db.Stock.Attach(item);
            fromCache.Add(productId);
        }
        else
        {
            item = await db.Stock.FindAsync([productId], cancellationToken);
        }
        seen[productId] = item;
        return item;
    }

    /// <summary>
    /// Whether <paramref name="quantity"/> units are available. A "no" based on a cached value is
    /// checked against the row: if the row says otherwise the cache is cleared and the unit of
    /// work fails (it is retried), so the cache can never reject what the database would serve.
    /// </summary>
    public async ValueTask<bool> HasAsync(StockItem item, int quantity, CancellationToken cancellationToken)
    {
        if (item.Available >= quantity) return true;
        if (!fromCache.Contains(item.ProductId)) return false;

        var original = db.Entry(item).Property(s => s.Available).OriginalValue;
        var stored = await db.Stock.AsNoTracking().Where(s => s.ProductId == item.ProductId).Select(s => s.Available).SingleAsync(cancellationToken);
        if (stored == original) return false;
        cache!.Clear();
        throw new StaleStockCacheException($"cached stock of {item.ProductId} was {original}, the store has {stored}");
    }
}
