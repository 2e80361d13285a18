using Microsoft.EntityFrameworkCore;
using OrderFlow.Persistence;

namespace OrderFlow.Notification.Data;

/// <summary>A message sent to a customer about the final outcome of an order.</summary>
public sealed class CustomerNotification : IOrderRow
{
    public required string Id { get; init; }
    public required string OrderId { get; init; }
    public required string UserId { get; init; }
    public required string Outcome { get; init; }
    public required string Message { get; init; }
    public DateTime SentAt { get; init; }
}

/// <summary>Notification's tables: <c>notification_notifications</c>, inbox, outbox.</summary>
public sealed class NotificationDbContext(DbContextOptions<NotificationDbContext> options) : ModuleDbContext(options)
{
    public override string TablePrefix => "notification";

    public DbSet<CustomerNotification> Notifications => Set<CustomerNotification>();

    protected override void OnModuleModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<CustomerNotification>(notification =>
        {
            notification.ToTable("notification_notifications");
            notification.HasKey(n => n.Id);
            notification.Property(n => n.Id).HasColumnName("notification_id").HasMaxLength(64);
            notification.Property(n => n.OrderId).HasColumnName("order_id").HasMaxLength(64);
            notification.Property(n => n.UserId).HasColumnName("user_id").HasMaxLength(64);
            notification.Property(n => n.Outcome).HasColumnName("outcome").HasMaxLength(32);
            notification.Property(n => n.Message).HasColumnName("message").HasMaxLength(512);
            notification.Property(n => n.SentAt).HasColumnName("sent_at");
            // One per order and outcome in the schema; "one per order" is what verify checks.
            notification.HasIndex(n => new { n.OrderId, n.Outcome }).IsUnique();
        });
    }
}
