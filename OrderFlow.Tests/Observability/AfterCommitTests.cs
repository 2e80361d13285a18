using System.Diagnostics.Metrics;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using OrderFlow.Host.Observability;
using OrderFlow.Messaging;
using OrderFlow.Orders;
using OrderFlow.Orders.Data;
using OrderFlow.Persistence;
using OrderFlow.Tests.Security;

namespace OrderFlow.Tests.Observability;

/// <summary>Outcome metrics count what a module committed, once; a rolled-back unit of work counts nothing.</summary>
[TestFixture]
public sealed class AfterCommitTests
{
    private SqliteConnection connection = null!;
    private ServiceProvider services = null!;
    private MetricsWindow window = null!;

    [SetUp]
    public void SetUp()
    {
        connection = new SqliteConnection("Data Source=:memory:");
        connection.Open();
        services = new ServiceCollection().AddLogging().AddMetrics().AddSingleton<OrdersMetrics>().BuildServiceProvider();
        var meters = services.GetRequiredService<IMeterFactory>();
        services.GetRequiredService<OrdersMetrics>();
        window = new MetricsWindow(meters, TimeProvider.System, TimeSpan.FromMinutes(1));
        using var db = Context();
        db.Database.Migrate();
    }

    [TearDown]
    public void TearDown()
    {
        window.Dispose();
        services.Dispose();
        connection.Dispose();
    }

    [Test]
    public async Task OrdersMetrics_WhenTheTransactionRollsBack_CountNothing()
    {
        await using var db = Context();
        await using var transaction = await db.Database.BeginTransactionAsync();
        db.Orders.Add(NewOrder());
        await db.SaveChangesAsync();
        await transaction.RollbackAsync();

        Assert.That(window.Total("orderflow.orders.created"), Is.Zero);
    }

    [Test]
    public async Task OrdersMetrics_WhenAnOrderIsCreatedThenMadeTerminal_CountEachOnceOnCommit()
    {
        var order = NewOrder();
        await using (var db = Context())
        {
            await using var transaction = await db.Database.BeginTransactionAsync();
            db.Orders.Add(order);
            await db.SaveChangesAsync();
            Assert.That(window.Total("orderflow.orders.created"), Is.Zero, "nothing is counted before the commit");
            await transaction.CommitAsync();
        }
        await using (var db = Context())
        {
            var loaded = await db.Orders.SingleAsync(o => o.Id == order.Id);
            loaded.MoveTo(OrderStatus.Rejected, "insufficient_stock: PROD-9", loaded.CreatedAt.AddSeconds(2), new Outbox(db, loaded.TraceParent, DateTime.UtcNow));
            await db.SaveChangesAsync();
            await db.SaveChangesAsync();
        }

        Assert.That(window.Total("orderflow.orders.created"), Is.EqualTo(1));
        Assert.That(window.Total("orderflow.orders.terminal", t => t["outcome"] == "Rejected" && t["reason"] == "insufficient_stock"), Is.EqualTo(1));
        Assert.That(window.Quantile("orderflow.order.duration", TimeSpan.FromMinutes(1), 0.5), Is.EqualTo(2).Within(8).Percent);
    }

    [Test]
    public async Task OrdersMetrics_WhenOrdersArePlacedInBulkUntracked_CountEachOnceOnCommit()
    {
        await using var db = Context();
        var placement = new OrderPlacement(db, new OutboxSignal<OrdersDbContext>(), TimeProvider.System);

        var placed = await placement.PlaceManyAsync([new NewOrder("USER-1", [new NewOrderLine("PROD-1", 1, 10m)]), new NewOrder("USER-2", [new NewOrderLine("PROD-2", 2, 5m)])], CancellationToken.None);

        Assert.That(db.ChangeTracker.Entries(), Is.Empty, "the orders were inserted untracked");
        Assert.That(window.Total("orderflow.orders.created"), Is.EqualTo(2));
        await using var fresh = Context();
        Assert.That(await fresh.Orders.Select(o => o.Id).ToListAsync(), Is.EquivalentTo(placed.Select(o => o.Id)));
    }

    [Test]
    public async Task AfterCommit_WhenAnActionThrows_TheCommitStands_TheOtherActionsRun_AndTheFailureIsLogged()
    {
        var logs = new CapturedLogs();
        services.GetRequiredService<ILoggerFactory>().AddProvider(logs);
        var order = NewOrder();
        var ran = false;
        await using (var db = Context())
        {
            await using var transaction = await db.Database.BeginTransactionAsync();
            db.Orders.Add(order); // the metrics' count of it is queued by the save, before the two below
            await db.SaveChangesAsync();
            db.AfterCommit(() => throw new InvalidOperationException("an observer failed"));
            db.AfterCommit(() => ran = true);

            // A commit reported as failed would be retried: an order placed without a key, twice.
            Assert.DoesNotThrowAsync(() => transaction.CommitAsync());
        }

        await using var fresh = Context();
        var stored = await fresh.Orders.Select(o => o.Id).ToListAsync();
        Assert.Multiple(() =>
        {
            Assert.That(stored, Is.EqualTo(new[] { order.Id }));
            Assert.That(ran, Is.True, "the action queued after the failing one");
            Assert.That(window.Total("orderflow.orders.created"), Is.EqualTo(1), "the action queued before it");
            Assert.That(logs.Entries.Where(e => e.Level == LogLevel.Error).Select(e => e.Text),
                Has.One.Contains("after a commit of OrdersDbContext failed").And.Contains("an observer failed"));
        });
    }

    private OrdersDbContext Context() =>
        new(new DbContextOptionsBuilder<OrdersDbContext>().UseSqlite(connection).AddInterceptors(AfterCommitInterceptor.Instance)
            .UseApplicationServiceProvider(services).Options);

    private static Order NewOrder() => new()
    {
        Id = OrderPlacement.NewOrderId(),
        UserId = "USER-1",
        TraceParent = Tracing.NewTraceParent(),
        TotalAmount = 10m,
        CreatedAt = DateTime.UtcNow,
        UpdatedAt = DateTime.UtcNow,
        Items = [new OrderLine { ProductId = "PROD-1", Quantity = 1, Price = 10m }],
    };
}
