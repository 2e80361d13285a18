using System.Text.Json;
using Microsoft.EntityFrameworkCore.ChangeTracking;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using OrderFlow.Persistence;

namespace OrderFlow.Orders.Data;

/// <summary>The Orders module's tables: <c>orders_orders</c>, <c>orders_inbox</c>, <c>orders_outbox</c>.</summary>
public sealed class OrdersDbContext : ModuleDbContext
{
    /// <summary>
    /// What it commits is also counted by the application's <see cref="OrdersMetrics"/>, when the
    /// application has one (the module does; tools and tests may not). One constructor with the
    /// options only: the module's contexts come from EF Core's context pool.
    /// </summary>
    public OrdersDbContext(DbContextOptions<OrdersDbContext> options) : base(options)
    {
    }

    private OrdersMetrics? metrics;
    private bool metricsLookedUp;

    protected override void BeforeSaving()
    {
        if (!metricsLookedUp)
        {
            metrics = this.GetService<IDbContextOptions>().FindExtension<CoreOptionsExtension>()?.ApplicationServiceProvider?.GetService(typeof(OrdersMetrics)) as OrdersMetrics;
            metricsLookedUp = true;
        }
        metrics?.Collect(this);
    }

    public override string TablePrefix => "orders";

    public DbSet<Order> Orders => Set<Order>();

    protected override void OnModuleModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<Order>(order =>
        {
            order.ToTable("orders_orders");
            order.HasKey(o => o.Id);
            order.Property(o => o.Id).HasColumnName("order_id").HasMaxLength(64);
            order.Property(o => o.UserId).HasColumnName("user_id").HasMaxLength(64);
            order.Property(o => o.Status).HasColumnName("status").HasConversion<string>().HasMaxLength(32);
            order.Property(o => o.Reason).HasColumnName("reason").HasMaxLength(256);
            order.Property(o => o.TotalAmount).HasColumnName("total_amount");
            order.Property(o => o.Currency).HasColumnName("currency").HasMaxLength(3);
            order.Property(o => o.ReservationId).HasColumnName("reservation_id").HasMaxLength(64);
            order.Property(o => o.PaymentId).HasColumnName("payment_id").HasMaxLength(64);
            order.Property(o => o.PaymentFailure).HasColumnName("payment_failure").HasMaxLength(256);
            order.Property(o => o.IdempotencyKey).HasColumnName("idempotency_key").HasMaxLength(128);
            order.Property(o => o.RequestHash).HasColumnName("request_hash").HasMaxLength(64);
            order.Property(o => o.TraceParent).HasColumnName("traceparent").HasMaxLength(64);
            order.Property(o => o.CreatedAt).HasColumnName("created_at");
            order.Property(o => o.UpdatedAt).HasColumnName("updated_at");
            order.Property(o => o.PaidAt).HasColumnName("paid_at");
            order.Property(o => o.TerminalAt).HasColumnName("terminal_at");
            order.Property(o => o.Version).HasColumnName("version").IsConcurrencyToken();
            order.Ignore(o => o.IsTerminal);
            // Lines and history are plain JSON columns, not owned JSON entities: EF tracks owned
            // entries one by one and rewrites the whole document through its own JSON writer on
            // every transition (the largest cost of the Orders stage in docs/benchmarks.md). The
            // columns are the lists' text (JsonListColumn): parsed only when a list is read, the
            // history appended to as text; both lists only grow.
            order.Ignore(o => o.Items);
            order.Ignore(o => o.History);
            order.Property(o => o.ItemsJson).HasColumnName("items").UsePropertyAccessMode(PropertyAccessMode.Property);
            order.Property(o => o.HistoryJson).HasColumnName("history").UsePropertyAccessMode(PropertyAccessMode.Property);
            // The same JSON document EF wrote for the owned type before ({"line1":…,"postal_code":…}),
            // as a plain column: an entity mapped to JSON would send every batch back to SaveChanges
            // (TrackedChangesWriter). The address never changes after the order is placed.
            order.Property(o => o.ShippingAddress).HasColumnName("shipping_address").HasConversion(
                new ValueConverter<OrderAddress?, string?>(
                    address => address == null ? null : JsonSerializer.Serialize(address, OrderColumnJson.Options),
                    json => json == null ? null : JsonSerializer.Deserialize<OrderAddress>(json, OrderColumnJson.Options)),
                new ValueComparer<OrderAddress?>((a, b) => ReferenceEquals(a, b), a => a == null ? 0 : a.GetHashCode(), a => a));
            order.HasIndex(o => o.IdempotencyKey).IsUnique();
            order.HasIndex(o => new { o.Status, o.CreatedAt });
            order.HasIndex(o => o.CreatedAt);
            order.HasIndex(o => o.TerminalAt);
        });
    }
}
