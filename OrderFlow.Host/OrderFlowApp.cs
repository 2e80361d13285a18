using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using OrderFlow.Host.Broker;
using OrderFlow.Host.Health;
using OrderFlow.Host.Observability;
using OrderFlow.Host.Security;
using OrderFlow.Inventory;
using OrderFlow.Messaging;
using OrderFlow.Notification;
using OrderFlow.Orders;
using OrderFlow.Payment;

namespace OrderFlow.Host;

/// <summary>The composition root: where Kafka is, which modules run, and the HTTP surface.</summary>
public static class OrderFlowApp
{
    /// <summary>Builds the full host: broker connection, the enabled modules and the HTTP API.</summary>
    public static async Task<WebApplication> BuildWebAsync(string[] args, Action<IConfigurationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.AddSecretsFile();
        configure?.Invoke(builder.Configuration);
        var broker = await builder.ConnectBrokerAsync();
        builder.AddOrderFlow();
        builder.AddApiSecurity();

        builder.Services.AddProblemDetails();
        builder.Services.AddOpenApi();
        builder.Services.ConfigureHttpJsonOptions(json => ConfigureJson(json.SerializerOptions));
        builder.Services.AddHealthChecks()
            .AddCheck<DatabaseHealthCheck>("database", tags: ["ready"])
            .AddCheck<BrokerHealthCheck>("broker", tags: ["ready"]);
        builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics.AddPrometheusExporter());
        builder.AddObservability();

        var app = builder.Build();
        ValidateSettings(app.Services);
        app.Logger.LogInformation("{Broker}", broker.Announcement);
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseApiSecurity();
        app.MapOpenApi();
        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false, ResponseWriter = HealthResponse.WriteAsync });
        app.MapHealthChecks("/health/ready", new HealthCheckOptions
        {
            Predicate = check => check.Tags.Contains("ready"),
            ResponseWriter = HealthResponse.WriteAsync,
            ResultStatusCodes = { [HealthStatus.Degraded] = StatusCodes.Status200OK },
        });
        app.MapPrometheusScrapingEndpoint("/metrics");
        app.MapOrdersModule();
        app.MapObservability();
        return app;
    }

    /// <summary>A host without HTTP: the modules only (used by <c>generate</c> when it runs alone).</summary>
    public static async Task<IHost> BuildWorkerAsync(string[] args, Action<IConfigurationBuilder>? configure = null)
    {
        var builder = WorkerBuilder(args, configure);
        var broker = await builder.ConnectBrokerAsync();
        builder.AddOrderFlow();
        var host = builder.Build();
        ValidateSettings(host.Services);
        host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("OrderFlow").LogInformation("{Broker}", broker.Announcement);
        return host;
    }

    /// <summary>
    /// Throws what <see cref="BuildWorkerAsync"/> would throw for a setting it refuses (see
    /// <see cref="StartupFailure.ConfigurationProblem"/>), without reaching a broker or starting
    /// anything: for a verb that hands its settings to the worker hosts of child processes
    /// (<c>bench</c>), so that a bad one fails before the first child runs, not after minutes.
    /// </summary>
    public static void CheckWorkerSettings(string[] args)
    {
        var builder = WorkerBuilder(args, null);
        KafkaOptions.Read(builder.Configuration);
        builder.AddOrderFlow();
        using var host = builder.Build();
        ValidateSettings(host.Services);
    }

    private static HostApplicationBuilder WorkerBuilder(string[] args, Action<IConfigurationBuilder>? configure)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = args, ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.AddSecretsFile();
        configure?.Invoke(builder.Configuration);
        return builder;
    }

    /// <summary>
    /// Validates every option registered with <c>ValidateOnStart</c> now, as the host's start would,
    /// and the names of the sections under <c>OrderFlow</c>: a bad setting then fails before
    /// anything starts or logs (the host's start logs the failure with its stack trace first), and
    /// <see cref="StartupFailure"/> prints it in one line.
    /// </summary>
    private static void ValidateSettings(IServiceProvider services)
    {
        ThrowOnUnknownSections(services.GetRequiredService<IConfiguration>());
        services.GetService<IStartupValidator>()?.Validate();
    }

    /// <summary>Fails (<see cref="OptionsValidationException"/>) when <c>OrderFlow</c> or <c>OrderFlow:Modules</c> has a section OrderFlow does not read, plus <paramref name="more"/> problems.</summary>
    internal static void ThrowOnUnknownSections(IConfiguration configuration, params IEnumerable<string> more)
    {
        var unknown = new[]
        {
            KnownSettings.Problem(configuration.GetSection("OrderFlow"), ["Api", "Alerts", "Database", "Messaging", "Modules"]),
            KnownSettings.Problem(configuration.GetSection("OrderFlow:Modules"), ["Orders", "Inventory", "Payment", "Notification"]),
            UrlsProblem(configuration["Urls"]),
        }.OfType<string>().Concat(more).ToList();
        if (unknown.Count > 0) throw new OptionsValidationException(Options.DefaultName, typeof(IConfiguration), unknown);
    }

    /// <summary>Why Kestrel could not listen on <paramref name="urls"/> (<c>;</c>-separated, as ASP.NET Core reads them), or null.</summary>
    private static string? UrlsProblem(string? urls)
    {
        foreach (var url in (urls ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            try
            {
                BindingAddress.Parse(url);
            }
            catch (FormatException)
            {
                return $"Urls '{url}' is not an address to listen on, such as http://localhost:5080";
            }
        }
        return null;
    }

    /// <summary>Configuration alone, read the way the host reads it (appsettings.json, environment, command line).</summary>
    public static IConfigurationRoot LoadConfiguration(string[] args, Action<IConfigurationBuilder>? configure = null)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            Args = args,
            ContentRootPath = AppContext.BaseDirectory,
            DisableDefaults = false,
        });
        builder.Configuration.AddSecretsFile();
        configure?.Invoke(builder.Configuration);
        return builder.Configuration;
    }

    /// <summary>Starts or joins the embedded broker, or checks the real cluster's topics; rewrites <c>Kafka:BootstrapServers</c> accordingly.</summary>
    public static async Task<BrokerConnection> ConnectBrokerAsync(this IHostApplicationBuilder builder)
    {
        var kafka = KafkaOptions.Read(builder.Configuration);
        var connection = await BrokerConnector.ConnectAsync(kafka);
        builder.Configuration["Kafka:BootstrapServers"] = connection.BootstrapServers;
        builder.Configuration["Kafka:UsingEmbeddedBroker"] = connection.Embedded ? "true" : "false";
        // Registered through a factory so the container disposes it — after the consumers closed.
        builder.Services.AddSingleton(_ => connection);
        builder.Services.AddHostedService<BrokerKeeper>();
        return connection;
    }

    /// <summary>Messaging, telemetry and the four modules; each module reads its own Enabled switch.</summary>
    public static IHostApplicationBuilder AddOrderFlow(this IHostApplicationBuilder builder)
    {
        builder.Services.AddMessaging(builder.Configuration);
        builder.Logging.Configure(options => options.ActivityTrackingOptions =
            ActivityTrackingOptions.TraceId | ActivityTrackingOptions.SpanId);
        builder.Services.AddOpenTelemetry()
            .WithMetrics(metrics => metrics.AddMeter(MessagingTelemetry.Name))
            // No trace exporter is configured, so nothing would read a recorded span: the sampler
            // drops them all. Dropped spans are still created (OpenTelemetry's Drop is .NET's
            // PropagationData for a span whose parent came in a message): they carry the trace to
            // the logs' TraceId/SpanId and to the published events' traceparent, without tags or
            // OpenTelemetry's processing (~1.5 % of the allocations per order, docs/benchmarks.md).
            // Adding an exporter means choosing a recording sampler too, e.g. the default
            // new ParentBasedSampler(new AlwaysOnSampler()).
            .WithTracing(tracing => tracing.AddSource(MessagingTelemetry.Name).SetSampler(new AlwaysOffSampler()));
        builder.AddOrdersModule();
        builder.AddInventoryModule();
        builder.AddPaymentModule();
        builder.AddNotificationModule();
        return builder;
    }

    public static void ConfigureJson(JsonSerializerOptions options)
    {
        options.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
        options.DictionaryKeyPolicy = null;
        options.Converters.Add(new UtcDateTimeConverter());
        options.Converters.Add(new JsonStringEnumConverter());
    }
}

/// <summary>
/// Holds the broker connection for the host's lifetime (the connection is resolved once so the
/// container owns it). When this process runs the embedded broker and every module, it runs the
/// broker's retention with the modules' consumer groups as the readers of their topics; with a
/// module switched off here, that module's readers would be unknown, so nothing is dropped.
/// </summary>
internal sealed partial class BrokerKeeper(BrokerConnection connection, IEnumerable<EventConsumerRegistration> registrations,
    IConfiguration configuration, KafkaClientFactory kafka, ILogger<BrokerKeeper> logger) : BackgroundService
{
    public BrokerConnection Connection => connection;

    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = kafka.Options.EmbeddedRetentionIntervalMs;
        if (connection.OwnedBroker is not { } broker || interval <= 0) return Task.CompletedTask;
        var off = configuration.GetSection("OrderFlow:Modules").GetChildren().Where(m => !m.GetValue("Enabled", true)).Select(m => m.Key).ToList();
        if (off.Count > 0)
        {
            LogRetentionOff(string.Join(", ", off));
            return Task.CompletedTask;
        }
        var retention = new EmbeddedBrokerRetention(broker);
        foreach (var registration in registrations) retention.ExpectReader(registration.GroupId, registration.Topics);
        return retention.RunAsync(kafka, TimeSpan.FromMilliseconds(interval), LogRetentionFailed, stoppingToken);
    }

    [LoggerMessage(LogLevel.Information, "Embedded broker keeps every record: {Modules} run elsewhere, so not every reader of the topics is known here")]
    private partial void LogRetentionOff(string modules);

    [LoggerMessage(LogLevel.Warning, "Embedded broker retention failed; retrying")]
    private partial void LogRetentionFailed(Exception ex);
}
