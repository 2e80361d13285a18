using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OrderFlow.Contracts;
using OrderFlow.Messaging;
using OrderFlow.Notification.Data;
using OrderFlow.Notification.Handlers;
using OrderFlow.Persistence;

namespace OrderFlow.Notification;

/// <summary>Notification: one message to the customer per terminal outcome of an order. Publishes <c>notification</c>.</summary>
public static class NotificationModule
{
    public const string Section = "OrderFlow:Modules:Notification";

    public static IHostApplicationBuilder AddNotificationModule(this IHostApplicationBuilder builder)
    {
        var section = builder.Configuration.GetSection(Section);
        if (!section.GetValue("Enabled", true)) return builder;

        builder.Services.AddOptions<NotificationOptions>().BindKnown(section);
        builder.Services.AddModuleStore<NotificationDbContext>(builder.Configuration);
        // The order status changes: on order-events unless Kafka:OrderStatusTopic gives them their own topic.
        var statusTopic = KafkaOptions.Read(builder.Configuration).Layout.OrderStatus;
        builder.Services.AddEventConsumer<NotificationDbContext>("notification", statusTopic)
            // Only terminal transitions concern the customer; the others are skipped without an inbox row.
            .HandleWhen<OrderStatusChanged, OrderStatusChangedHandler>(evt => evt.IsTerminal)
            // Two of an order's three status changes are not terminal: left unread by their is_terminal.
            .SkipUnreadWhen<OrderStatusChanged>("is_terminal", false)
            .Preload((NotificationDbContext db, IReadOnlySet<string> orderIds) => db.Notifications.Where(n => orderIds.Contains(n.OrderId)));
        return builder;
    }

    /// <summary>The Notification store alone, for tools that read it.</summary>
    public static IServiceCollection AddNotificationStore(this IServiceCollection services, IConfiguration configuration) =>
        services.AddModuleStore<NotificationDbContext>(configuration);
}
