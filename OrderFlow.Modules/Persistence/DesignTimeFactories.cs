using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;
using OrderFlow.Inventory.Data;
using OrderFlow.Notification.Data;
using OrderFlow.Orders.Data;
using OrderFlow.Payment.Data;

namespace OrderFlow.Persistence;

// Used only by `dotnet ef migrations add` (see docs/development.md); never at run time.
internal abstract class DesignTimeFactory<TContext> : IDesignTimeDbContextFactory<TContext> where TContext : ModuleDbContext
{
    public TContext CreateDbContext(string[] args)
    {
        var builder = new DbContextOptionsBuilder<TContext>();
        StoreServiceCollectionExtensions.Configure<TContext>(builder, new StoreOptions { Path = "design-time.db" });
        return (TContext)Activator.CreateInstance(typeof(TContext), builder.Options)!;
    }
}

internal sealed class OrdersDesignTimeFactory : DesignTimeFactory<OrdersDbContext>;
internal sealed class InventoryDesignTimeFactory : DesignTimeFactory<InventoryDbContext>;
internal sealed class PaymentDesignTimeFactory : DesignTimeFactory<PaymentDbContext>;
internal sealed class NotificationDesignTimeFactory : DesignTimeFactory<NotificationDbContext>;
