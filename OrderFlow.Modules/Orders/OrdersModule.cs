using Microsoft.EntityFrameworkCore;
using FluentValidation;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using OrderFlow.Contracts;
using OrderFlow.Messaging;
using OrderFlow.Orders.Api;
using OrderFlow.Orders.Data;
using OrderFlow.Orders.Handlers;
using OrderFlow.Persistence;

namespace OrderFlow.Orders;

/// <summary>
/// Orders: owns the order state machine and the HTTP API. Publishes <c>order-events</c>;
/// consumes the results of Inventory and Payment.
/// </summary>
public static class OrdersModule
{
    public const string Section = "OrderFlow:Modules:Orders";

    public static IHostApplicationBuilder AddOrdersModule(this IHostApplicationBuilder builder)
    {
        var section = builder.Configuration.GetSection(Section);
        if (!section.GetValue("Enabled", true)) return builder;

        builder.Services.AddOptions<OrdersOptions>().BindKnown(section).ValidateDataAnnotations();
        builder.Services.AddSingleton<TerminalOrderFeed>();
        builder.Services.AddSingleton<OrdersMetrics>();
        builder.Services.AddModuleStore<OrdersDbContext>(builder.Configuration);
        builder.Services.AddEventConsumer<OrdersDbContext>("orders", Topics.InventoryEvents, Topics.PaymentEvents)
            .Handle<InventoryReserved, InventoryReservedHandler>()
            .Handle<InventoryReservationFailed, InventoryReservationFailedHandler>()
            .Handle<InventoryReleased, InventoryReleasedHandler>()
            .Handle<PaymentCompleted, PaymentCompletedHandler>()
            .Handle<PaymentFailed, PaymentFailedHandler>()
            .PreloadUntracked((OrdersDbContext db, IReadOnlySet<string> orderIds) => db.Orders.Where(o => orderIds.Contains(o.Id)));
        builder.Services.AddScoped<OrderPlacement>();
        builder.Services.AddSingleton<OrderIntake>();
        // Stateless: its rules are built once, not for every request.
        builder.Services.AddSingleton<IValidator<PlaceOrderRequest>, PlaceOrderRequestValidator>();
        builder.Services.AddHostedService<OrderSagaService>();
        builder.Services.AddSingleton<Marker>();
        return builder;
    }

    /// <summary>Maps the order API when the module is on; does nothing when it is off.</summary>
    public static IEndpointRouteBuilder MapOrdersModule(this IEndpointRouteBuilder app)
    {
        if (app.ServiceProvider.GetService<Marker>() is null) return app;
        return app.MapOrderEndpoints();
    }

    /// <summary>The Orders store alone, for tools that read it (verify, generate) without running the module.</summary>
    public static IServiceCollection AddOrdersStore(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddModuleStore<OrdersDbContext>(configuration);
        services.TryAddSingleton(TimeProvider.System);
        services.AddOptions<OrdersOptions>().Bind(configuration.GetSection(Section));
        services.AddScoped<OrderPlacement>();
        services.AddSingleton<OutboxSignal<OrdersDbContext>>();
        return services;
    }

    private sealed class Marker;
}
