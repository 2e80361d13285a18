using Microsoft.EntityFrameworkCore;
using OrderFlow.Persistence;

namespace OrderFlow.Inventory.Data;

public sealed class StockItem
{
    public required string ProductId { get; init; }

    /// <summary>Units the product was seeded with; with the reservations it proves conservation.</summary>
    public int InitialQuantity { get; init; }

    public int Available { get; set; }
}

/// <summary>Rejected: the order could not be served; recorded so a copy of its OrderCreated never reserves later.</summary>
public enum ReservationStatus { Reserved, Released, Rejected }

public sealed class Reservation : IOrderRow
{
    public required string Id { get; init; }
    public required string OrderId { get; init; }
    public ReservationStatus Status { get; set; }
    public List<ReservationLine> Lines { get; init; } = [];
    public DateTime CreatedAt { get; init; }
    public DateTime? ReleasedAt { get; set; }
    public string? ReleaseReason { get; set; }
}

public sealed class ReservationLine
{
    public required string ProductId { get; init; }
    public int Quantity { get; init; }
}

/// <summary>Inventory's tables: <c>inventory_stock</c>, <c>inventory_reservations</c>, <c>inventory_reservation_lines</c>, inbox, outbox.</summary>
public sealed class InventoryDbContext(DbContextOptions<InventoryDbContext> options) : ModuleDbContext(options)
{
    public override string TablePrefix => "inventory";

    public DbSet<StockItem> Stock => Set<StockItem>();
    public DbSet<Reservation> Reservations => Set<Reservation>();

    protected override void OnModuleModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<StockItem>(stock =>
        {
            stock.ToTable("inventory_stock", t => t.HasCheckConstraint("ck_inventory_stock_available", "available >= 0"));
            stock.HasKey(s => s.ProductId);
            stock.Property(s => s.ProductId).HasColumnName("product_id").HasMaxLength(64);
            stock.Property(s => s.InitialQuantity).HasColumnName("initial_quantity");
            // The stock cache's guard: an update carries the value it was based on (StockCache).
            stock.Property(s => s.Available).HasColumnName("available").IsConcurrencyToken();
        });
        modelBuilder.Entity<Reservation>(reservation =>
        {
            reservation.ToTable("inventory_reservations");
            reservation.HasKey(r => r.Id);
            reservation.Property(r => r.Id).HasColumnName("reservation_id").HasMaxLength(64);
            reservation.Property(r => r.OrderId).HasColumnName("order_id").HasMaxLength(64);
            reservation.Property(r => r.Status).HasColumnName("status").HasConversion<string>().HasMaxLength(16);
            reservation.Property(r => r.CreatedAt).HasColumnName("created_at");
            reservation.Property(r => r.ReleasedAt).HasColumnName("released_at");
            reservation.Property(r => r.ReleaseReason).HasColumnName("release_reason").HasMaxLength(256);
            reservation.HasIndex(r => r.OrderId).IsUnique();
            reservation.OwnsMany(r => r.Lines, lines =>
            {
                lines.ToTable("inventory_reservation_lines");
                lines.WithOwner().HasForeignKey("reservation_id");
                lines.Property<int>("id").HasColumnName("id");
                lines.HasKey("id");
                lines.Property(l => l.ProductId).HasColumnName("product_id").HasMaxLength(64);
                lines.Property(l => l.Quantity).HasColumnName("quantity");
            });
        });
    }
}
