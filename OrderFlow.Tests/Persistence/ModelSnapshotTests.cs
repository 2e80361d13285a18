using Microsoft.EntityFrameworkCore;
using OrderFlow.Inventory.Data;
using OrderFlow.Notification.Data;
using OrderFlow.Orders.Data;
using OrderFlow.Payment.Data;
using OrderFlow.Persistence;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.Persistence;

/// <summary>
/// Each module's model is what its migrations' snapshot says: a change to the mapping without a
/// migration (or without the snapshot's update, where the tables stay the same) fails here, not on
/// a user's store.
/// </summary>
public sealed class ModelSnapshotTests
{
    private static IEnumerable<TestCaseData> Modules()
    {
        yield return new TestCaseData((Func<ModuleDbContext>)(() => Store<OrdersDbContext>(o => new OrdersDbContext(o)))).SetName("Orders");
        yield return new TestCaseData((Func<ModuleDbContext>)(() => Store<InventoryDbContext>(o => new InventoryDbContext(o)))).SetName("Inventory");
        yield return new TestCaseData((Func<ModuleDbContext>)(() => Store<PaymentDbContext>(o => new PaymentDbContext(o)))).SetName("Payment");
        yield return new TestCaseData((Func<ModuleDbContext>)(() => Store<NotificationDbContext>(o => new NotificationDbContext(o)))).SetName("Notification");
    }

    private static TContext Store<TContext>(Func<DbContextOptions<TContext>, TContext> create) where TContext : ModuleDbContext =>
        create(new DbContextOptionsBuilder<TContext>().UseSqlite("Data Source=:memory:").Options);

    [TestCaseSource(nameof(Modules))]
    public void Model_MatchesTheMigrationsSnapshot(Func<ModuleDbContext> create)
    {
        using var db = create();
        Assert.That(db.Database.HasPendingModelChanges(), Is.False, "the model differs from the last migration's snapshot: add a migration");
    }
}
