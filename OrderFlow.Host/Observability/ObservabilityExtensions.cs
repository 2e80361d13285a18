using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using OrderFlow.Inventory;
using OrderFlow.Inventory.Data;
using OrderFlow.Messaging;
using OrderFlow.Notification;
using OrderFlow.Notification.Data;
using OrderFlow.Orders;
using OrderFlow.Orders.Data;
using OrderFlow.Payment;
using OrderFlow.Payment.Data;

namespace OrderFlow.Host.Observability;

/// <summary>Alerts, the dashboard and the order timeline (SPEC §7), added to the web host.</summary>
public static class ObservabilityExtensions
{
    public static WebApplicationBuilder AddObservability(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<AlertOptions>().BindKnown(builder.Configuration.GetSection(AlertOptions.Section))
            .Validate(o => o.Window > TimeSpan.Zero && o.EvaluationInterval > TimeSpan.Zero, "Window and EvaluationInterval must be positive")
            .Validate(o => o.Rules.Values.All(r => Signals.All.Contains(r.Signal)), "every rule's Signal must be one of: " + string.Join(", ", Signals.All))
            .Validate(o => o.Rules.Values.All(r => double.IsFinite(r.Threshold) && r.For >= TimeSpan.Zero && (r.Window is null || r.Window > TimeSpan.Zero)),
                "every rule needs a finite Threshold, a For of zero or more and a positive Window")
            .ValidateOnStart();
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(sp =>
        {
            var alerts = sp.GetRequiredService<IOptions<AlertOptions>>().Value;
            var longest = alerts.Rules.Values.Select(r => r.Window ?? alerts.Window).Append(alerts.Window).Max();
            return new MetricsWindow(sp.GetRequiredService<IMeterFactory>(), sp.GetRequiredService<TimeProvider>(), longest);
        });
        services.AddSingleton<Signals>();
        services.AddSingleton<AlertEvaluator>();
        services.AddHostedService(sp => sp.GetRequiredService<AlertEvaluator>());
        services.AddHealthChecks().AddCheck<AlertsHealthCheck>("alerts", tags: ["ready"]);

        // The timeline and the dashboard read every module's tables, whichever modules run here.
        if (!services.Any(d => d.ServiceType == typeof(OrdersDbContext))) services.AddOrdersStore(builder.Configuration);
        if (!services.Any(d => d.ServiceType == typeof(InventoryDbContext))) services.AddInventoryStore(builder.Configuration);
        if (!services.Any(d => d.ServiceType == typeof(PaymentDbContext))) services.AddPaymentStore(builder.Configuration);
        if (!services.Any(d => d.ServiceType == typeof(NotificationDbContext))) services.AddNotificationStore(builder.Configuration);
        services.AddScoped<OrderTimeline>();
        services.AddScoped<DashboardData>();
        return builder;
    }

    public static WebApplication MapObservability(this WebApplication app)
    {
        // Created now, not on the first request, so the window sees everything from start-up on.
        app.Services.GetRequiredService<MetricsWindow>();
        var group = app.MapGroup("").WithTags("Observability");
        group.MapGet("/alerts", (AlertEvaluator alerts) => new { alerts = alerts.Current })
            .WithName("ListAlerts").WithSummary("Every alert rule with its current value and state");
        group.MapGet("/orders/{id}/timeline", async (string id, OrderTimeline timeline, CancellationToken cancellationToken) =>
                await timeline.BuildAsync(id, cancellationToken) is { } view
                    ? Results.Ok(view)
                    : Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "Order not found", detail: $"Nothing is known of order {id}."))
            .WithName("GetOrderTimeline").WithSummary("Everything every module did with one order, in time order")
            .Produces<TimelineView>().ProducesProblem(StatusCodes.Status404NotFound);
        group.MapGet("/dashboard/data", (DashboardData data, CancellationToken cancellationToken) => data.BuildAsync(cancellationToken))
            .WithName("GetDashboardData").WithSummary("The numbers the dashboard shows");
        // The page is a static shell without data; its script sends the API key for the data.
        group.MapGet("/", () => Results.Content(DashboardPage.Html, "text/html; charset=utf-8"))
            .WithName("Dashboard").WithSummary("The live dashboard page").ExcludeFromDescription().AllowAnonymous();
        return app;
    }
}

/// <summary>The dashboard page, one self-contained file (embedded resource <c>dashboard.html</c>).</summary>
internal static class DashboardPage
{
    public static readonly string Html = Load();

    private static string Load()
    {
        using var stream = typeof(DashboardPage).Assembly.GetManifestResourceStream("OrderFlow.Host.Observability.dashboard.html")
            ?? throw new InvalidOperationException("dashboard.html is not embedded");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
