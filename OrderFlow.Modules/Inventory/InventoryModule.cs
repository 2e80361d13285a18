using System.ComponentModel.DataAnnotations;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OrderFlow.Contracts;
using OrderFlow.Inventory.Data;
using OrderFlow.Inventory.Handlers;
using OrderFlow.Messaging;
using OrderFlow.Persistence;

namespace OrderFlow.Inventory;

/// <summary>
/// Inventory: reserves stock for new orders and releases it when an order is cancelled or its
/// payment fails. Publishes <c>inventory-events</c>.
/// </summary>
public static class InventoryModule
{
    public const string Section = "OrderFlow:Modules:Inventory";

    public static IHostApplicationBuilder AddInventoryModule(this IHostApplicationBuilder builder)
    {
        var section = builder.Configuration.GetSection(Section);
        if (!section.GetValue("Enabled", true)) return builder;

        builder.Services.AddOptions<InventoryOptions>().BindKnown(section)
            .Validate(o => o.Catalog.All(p => p.Value >= 0 && p.Key.Length is > 0 and <= 64), "catalogue quantities must be >= 0 and ids 1-64 characters")
            .ValidateOnStart();
        builder.Services.AddModuleStore<InventoryDbContext>(builder.Configuration);
        builder.Services.AddSingleton<InventoryMetrics>();
        builder.Services.AddHostedService<StockSeeder>();
        builder.Services.AddSingleton<StockCache>();
        builder.Services.AddScoped(sp => new StockLookup(sp.GetRequiredService<InventoryDbContext>(), sp.GetRequiredService<StockCache>()));
        builder.Services.AddScoped<ReservationRelease>();
        builder.Services.AddEventConsumer<InventoryDbContext>("inventory", Topics.OrderEvents, Topics.PaymentEvents)
            .Handle<OrderCreated, OrderCreatedHandler>(ValidateOrderCreated, 1, 2)
            .Handle<OrderCancelled, OrderCancelledHandler>()
            .Handle<PaymentFailed, PaymentFailedHandler>()
            .Preload((InventoryDbContext db, IReadOnlySet<string> orderIds) => db.Reservations.Include(r => r.Lines).Where(r => orderIds.Contains(r.OrderId)));
        return builder;
    }

    /// <summary>The Inventory store alone, for tools that read it.</summary>
    public static IServiceCollection AddInventoryStore(this IServiceCollection services, IConfiguration configuration) =>
        services.AddModuleStore<InventoryDbContext>(configuration);

    internal static string? ValidateOrderCreated(OrderCreated evt)
    {
        if (evt.Items is null || evt.Items.Count == 0) return "an order has at least one item";
        foreach (var item in evt.Items)
        {
            if (item is null || string.IsNullOrWhiteSpace(item.ProductId) || item.ProductId.Length > 64) return "product_id is missing or too long";
            if (item.Quantity <= 0) return $"quantity of {item.ProductId} must be positive";
        }
        return null;
    }
}
