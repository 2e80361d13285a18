using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using OrderFlow.Contracts;
using OrderFlow.Inventory.Data;
using OrderFlow.Messaging;
using OrderFlow.Notification.Data;
using OrderFlow.Orders.Data;
using OrderFlow.Payment.Data;
using OrderFlow.Persistence;

namespace OrderFlow.Tests.Support;

/// <summary>
/// One module's store on a private in-memory SQLite database, migrated with the module's real
/// migrations. Hands out fresh contexts on the same connection, so what a test reads back is what
/// was committed, not what a change tracker remembers.
/// </summary>
public sealed class InMemoryStore<TContext> : IDisposable where TContext : ModuleDbContext
{
    // An in-memory SQLite database lives exactly as long as its connection, so the store keeps one open.
    private readonly SqliteConnection connection = new("Data Source=:memory:");
    private readonly DbContextOptions<TContext> options;
    private readonly Func<DbContextOptions<TContext>, TContext> create;

    public InMemoryStore(Func<DbContextOptions<TContext>, TContext> create)
    {
        connection.Open();
        options = new DbContextOptionsBuilder<TContext>().UseSqlite(connection).Options;
        this.create = create;
        using var db = NewContext();
        db.Database.Migrate();
    }

    public TContext NewContext() => create(options);

    /// <summary>
    /// Runs one handler call the way the consumer loop does: a fresh context and outbox, the
    /// handler, then SaveChanges. Returns the events the handler added to the outbox.
    /// </summary>
    public async Task<IReadOnlyList<IntegrationEvent>> ApplyAsync(Func<TContext, Outbox, Task> handle)
    {
        await using var db = NewContext();
        var outbox = InMemoryStore.OutboxFor(db);
        await handle(db, outbox);
        await db.SaveChangesAsync();
        return outbox.Added;
    }

    /// <summary>Reads committed state through a fresh context.</summary>
    public async Task<T> ReadAsync<T>(Func<TContext, Task<T>> read)
    {
        await using var db = NewContext();
        return await read(db);
    }

    /// <summary>The committed outbox rows, oldest first, as (event type, key).</summary>
    public Task<List<(string EventType, string Key)>> OutboxRowsAsync() =>
        ReadAsync(async db => (await db.OutboxMessages.OrderBy(m => m.Id).ToListAsync()).Select(m => (m.EventType, m.Key)).ToList());

    /// <summary>Every row of a table as text with each value's storage class (59.97 as TEXT is not 59.97 as REAL), in rowid order, without the named columns.</summary>
    public List<string[]> Rows(string table, params string[] except)
    {
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT * FROM \"{table}\" ORDER BY rowid";
        using var reader = command.ExecuteReader();
        var rows = new List<string[]>();
        while (reader.Read())
            rows.Add(Enumerable.Range(0, reader.FieldCount).Where(i => !except.Contains(reader.GetName(i)))
                .Select(i => reader.IsDBNull(i) ? "NULL" : Text(reader.GetValue(i)) + " " + reader.GetFieldType(i).Name).ToArray());
        return rows;

        static string Text(object value) =>
            value is byte[] bytes ? Convert.ToHexString(bytes) : Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture)!;
    }

    public void Dispose() => connection.Dispose();
}

public static class InMemoryStore
{
    public static InMemoryStore<OrdersDbContext> Orders() => new(o => new OrdersDbContext(o));
    public static InMemoryStore<InventoryDbContext> Inventory() => new(o => new InventoryDbContext(o));
    public static InMemoryStore<PaymentDbContext> Payment() => new(o => new PaymentDbContext(o));
    public static InMemoryStore<NotificationDbContext> Notification() => new(o => new NotificationDbContext(o));

    public static Outbox OutboxFor(ModuleDbContext db) => new(db, null, DateTime.UtcNow);
}

/// <summary>A clock that stands still unless a test moves it.</summary>
public sealed class FixedClock(DateTimeOffset now) : TimeProvider
{
    public FixedClock() : this(new DateTimeOffset(2026, 1, 15, 10, 30, 0, TimeSpan.Zero)) { }

    public DateTimeOffset Now { get; private set; } = now;

    public override DateTimeOffset GetUtcNow() => Now;

    public void Advance(TimeSpan by) => Now += by;
}
