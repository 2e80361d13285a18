using Microsoft.EntityFrameworkCore;
using OrderFlow.Persistence;

namespace OrderFlow.Payment.Data;

public enum PaymentStatus { Pending, Charged, Declined, Refunded, Cancelled }

/// <summary>
/// What Payment knows of one order. A charge needs both the amount (from <c>OrderCreated</c>) and
/// the reservation (from <c>InventoryReserved</c>); they arrive on different topics, in either order.
/// </summary>
public sealed class PaymentRequest : IOrderRow
{
    public required string OrderId { get; init; }
    public string? UserId { get; set; }
    public decimal? Amount { get; set; }
    public string? ReservationId { get; set; }
    public bool CancelRequested { get; set; }
    public string? CancelReason { get; set; }
    public PaymentStatus Status { get; set; }
    public string? PaymentId { get; set; }
    public string? Reason { get; set; }
    public DateTime UpdatedAt { get; set; }
}

public enum LedgerKind { Charge, Refund }

/// <summary>The payment ledger: one row per money movement. Verify checks it against the orders.</summary>
public sealed class LedgerEntry
{
    public required string Id { get; init; }
    public required string OrderId { get; init; }
    public LedgerKind Kind { get; init; }
    public decimal Amount { get; init; }
    public DateTime At { get; init; }
}

/// <summary>Payment's tables: <c>payment_requests</c>, <c>payment_ledger</c>, inbox, outbox.</summary>
public sealed class PaymentDbContext(DbContextOptions<PaymentDbContext> options) : ModuleDbContext(options)
{
    public override string TablePrefix => "payment";

    public DbSet<PaymentRequest> Requests => Set<PaymentRequest>();
    public DbSet<LedgerEntry> Ledger => Set<LedgerEntry>();

    protected override void OnModuleModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<PaymentRequest>(request =>
        {
            request.ToTable("payment_requests");
            request.HasKey(r => r.OrderId);
            request.Property(r => r.OrderId).HasColumnName("order_id").HasMaxLength(64);
            request.Property(r => r.UserId).HasColumnName("user_id").HasMaxLength(64);
            request.Property(r => r.Amount).HasColumnName("amount");
            request.Property(r => r.ReservationId).HasColumnName("reservation_id").HasMaxLength(64);
            request.Property(r => r.CancelRequested).HasColumnName("cancel_requested");
            request.Property(r => r.CancelReason).HasColumnName("cancel_reason").HasMaxLength(256);
            request.Property(r => r.Status).HasColumnName("status").HasConversion<string>().HasMaxLength(16);
            request.Property(r => r.PaymentId).HasColumnName("payment_id").HasMaxLength(64);
            request.Property(r => r.Reason).HasColumnName("reason").HasMaxLength(256);
            request.Property(r => r.UpdatedAt).HasColumnName("updated_at");
        });
        modelBuilder.Entity<LedgerEntry>(entry =>
        {
            entry.ToTable("payment_ledger");
            entry.HasKey(e => e.Id);
            entry.Property(e => e.Id).HasColumnName("entry_id").HasMaxLength(64);
            entry.Property(e => e.OrderId).HasColumnName("order_id").HasMaxLength(64);
            entry.Property(e => e.Kind).HasColumnName("kind").HasConversion<string>().HasMaxLength(16);
            entry.Property(e => e.Amount).HasColumnName("amount");
            entry.Property(e => e.At).HasColumnName("at");
            entry.HasIndex(e => e.OrderId);
        });
    }
}
