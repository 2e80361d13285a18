using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using OrderFlow.Inventory.Data;
using OrderFlow.Notification.Data;
using OrderFlow.Orders.Data;
using OrderFlow.Payment.Data;
using OrderFlow.Persistence;

namespace OrderFlow.Tests.Persistence;

/// <summary>
/// The modules' migrations run whole in one transaction each: none of them has a statement that
/// EF Core must run outside it (its warning 20410, which a table rebuild's <c>PRAGMA foreign_keys</c>
/// raised for every new store until the Orders rebuild was written out, OrderJsonColumns), so a
/// start-up stopped half-way leaves the store as it was. And the hand-written rebuild keeps the
/// rows it copies.
/// </summary>
public sealed class MigrationTests
{
    private const string BeforeJsonColumns = "20261125085111_ShippingAddress";

    private SqliteConnection connection = null!;

    [SetUp]
    public void SetUp()
    {
        connection = new SqliteConnection("Data Source=:memory:");
        connection.Open();
    }

    [TearDown]
    public void TearDown() => connection.Dispose();

    private static IEnumerable<TestCaseData> Modules()
    {
        yield return new TestCaseData((Func<SqliteConnection, ModuleDbContext>)(c => new OrdersDbContext(Options<OrdersDbContext>(c)))).SetName("Orders");
        yield return new TestCaseData((Func<SqliteConnection, ModuleDbContext>)(c => new InventoryDbContext(Options<InventoryDbContext>(c)))).SetName("Inventory");
        yield return new TestCaseData((Func<SqliteConnection, ModuleDbContext>)(c => new PaymentDbContext(Options<PaymentDbContext>(c)))).SetName("Payment");
        yield return new TestCaseData((Func<SqliteConnection, ModuleDbContext>)(c => new NotificationDbContext(Options<NotificationDbContext>(c)))).SetName("Notification");
    }

    // The warning becomes an exception: a migration that EF Core would split fails here.
    private static DbContextOptions<TContext> Options<TContext>(SqliteConnection connection) where TContext : DbContext =>
        new DbContextOptionsBuilder<TContext>().UseSqlite(connection)
            .ConfigureWarnings(w => w.Throw(RelationalEventId.NonTransactionalMigrationOperationWarning))
            .Options;

    [TestCaseSource(nameof(Modules))]
    public void Migrate_ANewStore_RunsNoStatementOutsideTheTransaction(Func<SqliteConnection, ModuleDbContext> create)
    {
        using var db = create(connection);
        Assert.DoesNotThrow(() => db.Database.Migrate());
        Assert.That(db.Database.GetPendingMigrations(), Is.Empty);
    }

    [Test]
    public void OrderJsonColumns_Up_KeepsTheRowsAndFillsNullJsonWithEmptyText_AndDownMakesThemNullableAgain()
    {
        using var db = new OrdersDbContext(Options<OrdersDbContext>(connection));
        var migrator = db.GetService<IMigrator>();
        migrator.Migrate(BeforeJsonColumns);
        Execute("""
            INSERT INTO orders_orders (order_id, created_at, status, total_amount, traceparent, updated_at, user_id, version, items, history, currency)
            VALUES ('ORD-1', '2026-11-25 09:00:00', 'Pending', '10.5', '', '2026-11-25 09:00:00', 'u1', 3, NULL, NULL, 'EUR'),
                   ('ORD-2', '2026-11-25 09:00:01', 'Paid', '20', '', '2026-11-25 09:00:01', 'u2', 4, '[{"p":1}]', '[]', NULL)
            """);
        Assert.That(NotNull("items"), Is.False, "before the migration the JSON columns are nullable");

        migrator.Migrate();

        Assert.Multiple(() =>
        {
            Assert.That(NotNull("items") && NotNull("history"), Is.True);
            Assert.That(Rows(), Is.EqualTo(new[] { "ORD-1|||Pending|3|EUR", "ORD-2|[{\"p\":1}]|[]|Paid|4|" }));
            Assert.That(Indexes(), Is.EqualTo(new[]
            {
                "IX_orders_orders_created_at", "IX_orders_orders_idempotency_key", "IX_orders_orders_status_created_at", "IX_orders_orders_terminal_at",
            }));
            Assert.That(Scalar("SELECT count(*) FROM sqlite_master WHERE name LIKE 'ef_temp%'"), Is.EqualTo(0L));
        });

        migrator.Migrate(BeforeJsonColumns);

        Assert.Multiple(() =>
        {
            Assert.That(NotNull("items") || NotNull("history"), Is.False, "Down makes them nullable again");
            Assert.That(Rows(), Has.Length.EqualTo(2));
            Assert.That(Indexes(), Has.Length.EqualTo(4));
        });
    }

    private void Execute(string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private object? Scalar(string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteScalar();
    }

    private bool NotNull(string column) =>
        (long)Scalar($"SELECT \"notnull\" FROM pragma_table_info('orders_orders') WHERE name = '{column}'")! == 1;

    private string[] Rows() => Strings(
        "SELECT order_id || '|' || items || '|' || history || '|' || status || '|' || version || '|' || ifnull(currency, '') FROM orders_orders ORDER BY order_id");

    private string[] Indexes() => Strings(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'orders_orders' AND sql IS NOT NULL ORDER BY name");

    private string[] Strings(string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        using var reader = command.ExecuteReader();
        var values = new List<string>();
        while (reader.Read()) values.Add(reader.GetString(0));
        return values.ToArray();
    }
}
