using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OrderFlow.Contracts;
using OrderFlow.Messaging;
using OrderFlow.Payment.Data;
using OrderFlow.Payment.Handlers;
using OrderFlow.Persistence;

namespace OrderFlow.Payment;

/// <summary>
/// Payment: charges reserved orders through the simulated gateway and refunds cancelled ones.
/// Publishes <c>payment-events</c>.
/// </summary>
public static class PaymentModule
{
    public const string Section = "OrderFlow:Modules:Payment";

    public static IHostApplicationBuilder AddPaymentModule(this IHostApplicationBuilder builder)
    {
        var section = builder.Configuration.GetSection(Section);
        if (!section.GetValue("Enabled", true)) return builder;

        builder.Services.AddOptions<PaymentOptions>().BindKnown(section).ValidateDataAnnotations();
        builder.Services.AddModuleStore<PaymentDbContext>(builder.Configuration);
        builder.Services.AddSingleton<PaymentGateway>();
        builder.Services.AddSingleton<PaymentMetrics>();
        builder.Services.AddScoped<PaymentProcess>();
        builder.Services.AddEventConsumer<PaymentDbContext>("payment", Topics.OrderEvents, Topics.InventoryEvents)
            .Handle<OrderCreated, OrderCreatedHandler>(1, 2)
            .Handle<InventoryReserved, InventoryReservedHandler>()
            .Handle<OrderCancelled, OrderCancelledHandler>()
            .PreloadUntracked((PaymentDbContext db, IReadOnlySet<string> orderIds) => db.Requests.Where(r => orderIds.Contains(r.OrderId)));
        return builder;
    }

    /// <summary>The Payment store alone, for tools that read it.</summary>
    public static IServiceCollection AddPaymentStore(this IServiceCollection services, IConfiguration configuration) =>
        services.AddModuleStore<PaymentDbContext>(configuration);
}
