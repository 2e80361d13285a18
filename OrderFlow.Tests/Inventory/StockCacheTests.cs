using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using OrderFlow.Contracts;
using OrderFlow.Inventory;
using OrderFlow.Inventory.Data;
using OrderFlow.Inventory.Handlers;
using OrderFlow.Messaging;
using OrderFlow.Persistence;
using OrderFlow.Tests.Support;
using static OrderFlow.Tests.Support.Builders;

namespace OrderFlow.Tests.Inventory;

/// <summary>
/// The stock cache against a real SQLite file. Each <see cref="StockCache"/> stands for one
/// Inventory process; a unit of work is applied the way the consumer loop does it: a write
/// transaction, the handler, SaveChanges, commit, and a retry when it fails.
/// </summary>
[TestFixture]
public sealed class StockCacheTests
{
    private readonly FixedClock clock = new();
    private string directory = null!;
    private DbContextOptions<InventoryDbContext> options = null!;

    [SetUp]
    public async Task CreateStore()
    {
        directory = Path.Combine(Path.GetTempPath(), "orderflow-tests", Guid.NewGuid().ToString("N"));
        var builder = new DbContextOptionsBuilder<InventoryDbContext>();
        StoreServiceCollectionExtensions.Configure<InventoryDbContext>(builder, new StoreOptions { Path = Path.Combine(directory, "inventory.db") });
        options = builder.Options;
        await using var db = new InventoryDbContext(options);
        SqlitePragmas.EnableWal(db.Database.GetConnectionString()!, new StoreOptions().PageSize);
        await db.Database.MigrateAsync();
        db.Stock.AddRange(Stock("PROD-001", 1_000), Stock("PROD-LIMITED", 5));
        await db.SaveChangesAsync();
    }

    [TearDown]
    public void DeleteStore()
    {
        SqliteConnection.ClearAllPools();
        try { Directory.Delete(directory, recursive: true); } catch (IOException) { }
    }

    [Test]
    public async Task Reserve_WhenAnotherProcessTookTheStockBehindTheCache_NeverOversells()
    {
        var first = new StockCache();
        var second = new StockCache();
        await ReserveAsync(first, AnOrderCreated().WithItem("PROD-LIMITED", 1));    // first caches 4
        await ReserveAsync(second, AnOrderCreated().WithItem("PROD-LIMITED", 1));   // the store has 3 now
        OrderCreated late = AnOrderCreated().WithItem("PROD-LIMITED", 4);

        var attempts = await ReserveAsync(first, late);

        Assert.Multiple(async () =>
        {
            Assert.That(attempts, Is.EqualTo(2), "the stale cached 4 fails the update; the retry reads the row");
            Assert.That(await AvailableAsync("PROD-LIMITED"), Is.EqualTo(3));
            Assert.That((await ReservationOfAsync(late.OrderId))!.Status, Is.EqualTo(ReservationStatus.Rejected));
        });
    }

    [Test]
    public async Task Reserve_WhenStockCameBackBehindTheCache_ReservesWhatTheStoreHas()
    {
        var cache = new StockCache();
        await ReserveAsync(cache, AnOrderCreated().WithItem("PROD-LIMITED", 5));    // cached: 0 left
        await using (var db = new InventoryDbContext(options))
            await db.Database.ExecuteSqlRawAsync("UPDATE inventory_stock SET available = available + 3, initial_quantity = initial_quantity + 3 WHERE product_id = 'PROD-LIMITED'");
        OrderCreated order = AnOrderCreated().WithItem("PROD-LIMITED", 2);

        var attempts = await ReserveAsync(cache, order);

        Assert.Multiple(async () =>
        {
            Assert.That(attempts, Is.EqualTo(2), "the cached 0 is checked against the row before rejecting");
            Assert.That((await ReservationOfAsync(order.OrderId))!.Status, Is.EqualTo(ReservationStatus.Reserved));
            Assert.That(await AvailableAsync("PROD-LIMITED"), Is.EqualTo(1));
        });
    }

    [Test]
    public async Task Reserve_WhenFourProcessesRaceForScarceStock_NeverOversellsAndConservesStock()
    {
        var orders = Enumerable.Range(0, 4).Select(_ => Enumerable.Range(0, 15)
            .Select(i => (OrderCreated)AnOrderCreated().WithItem("PROD-LIMITED", 1 + i % 2).WithItem("PROD-001", 1)).ToList()).ToList();

        await Task.WhenAll(orders.Select(batch => Task.Run(async () =>
        {
            var cache = new StockCache();
            foreach (var order in batch) await ReserveAsync(cache, order);
        })));

        await using var db = new InventoryDbContext(options);
        var reservations = await db.Reservations.Include(r => r.Lines).AsNoTracking().ToListAsync();
        var reservedLimited = reservations.Where(r => r.Status == ReservationStatus.Reserved).SelectMany(r => r.Lines)
            .Where(l => l.ProductId == "PROD-LIMITED").Sum(l => l.Quantity);
        var reservedOther = reservations.Where(r => r.Status == ReservationStatus.Reserved).SelectMany(r => r.Lines)
            .Where(l => l.ProductId == "PROD-001").Sum(l => l.Quantity);
        Assert.Multiple(async () =>
        {
            Assert.That(reservations.Select(r => r.OrderId), Is.EquivalentTo(orders.SelectMany(b => b).Select(o => o.OrderId)), "every order decided once");
            Assert.That(reservedLimited, Is.LessThanOrEqualTo(5));
            Assert.That(await AvailableAsync("PROD-LIMITED"), Is.EqualTo(5 - reservedLimited));
            Assert.That(await AvailableAsync("PROD-001"), Is.EqualTo(1_000 - reservedOther));
        });
    }

    /// <summary>Applies one OrderCreated like the consumer loop, retrying what it retries; returns the attempts.</summary>
    private async Task<int> ReserveAsync(StockCache cache, OrderCreated evt)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await using var db = new InventoryDbContext(options);
                await using var transaction = await db.Database.BeginWriteTransactionAsync(CancellationToken.None);
                var handler = new OrderCreatedHandler(db, clock, stockLookup: new StockLookup(db, cache));
                await handler.HandleAsync(evt, new Outbox(db, null, clock.GetUtcNow().UtcDateTime), CancellationToken.None);
                await db.SaveChangesAsync();
                await transaction.CommitAsync(CancellationToken.None);
                return attempt;
            }
            catch (Exception ex) when (ex is DbUpdateConcurrencyException or StaleStockCacheException && attempt < 20)
            {
            }
        }
    }

    private async Task<int> AvailableAsync(string productId)
    {
        await using var db = new InventoryDbContext(options);
        return await db.Stock.AsNoTracking().Where(s => s.ProductId == productId).Select(s => s.Available).SingleAsync();
    }

    private async Task<Reservation?> ReservationOfAsync(string orderId)
    {
        await using var db = new InventoryDbContext(options);
        return await db.Reservations.AsNoTracking().SingleOrDefaultAsync(r => r.OrderId == orderId);
    }

    private static StockItem Stock(string productId, int quantity) =>
        new() { ProductId = productId, InitialQuantity = quantity, Available = quantity };
}
