using System.Collections.Concurrent;
using Confluent.Kafka;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OrderFlow.Contracts;
using OrderFlow.Messaging;
using OrderFlow.Persistence;

namespace OrderFlow.Tests.Messaging;

/// <summary>Rows a probe handler writes: one per application of an event, so a double application shows as two rows.</summary>
public sealed class Application : IOrderRow
{
    public int Id { get; set; }
    public required string EventId { get; init; }
    public required string OrderId { get; init; }
}

/// <summary>A module used only by the messaging tests: it records each event it applies.</summary>
public sealed class ProbeDbContext(DbContextOptions<ProbeDbContext> options) : ModuleDbContext(options)
{
    public override string TablePrefix => "probe";
    public DbSet<Application> Applications => Set<Application>();

    protected override void OnModuleModelCreating(ModelBuilder modelBuilder) =>
        modelBuilder.Entity<Application>(a =>
        {
            a.ToTable("probe_applications");
            a.HasKey(x => x.Id);
        });
}

/// <summary>Fails the first N attempts for chosen orders, to exercise retries and dead letters.</summary>
public sealed class FailurePlan
{
    public ConcurrentDictionary<string, int> FailuresLeft { get; } = new();
    public ConcurrentDictionary<string, int> Attempts { get; } = new();
    public HashSet<string> Permanent { get; } = [];

    /// <summary>
    /// How long the handler takes per event, so a test can stop a consumer mid-stream: the
    /// stream takes far longer than the host's shutdown, however fast the machine is.
    /// </summary>
    public TimeSpan? DelayPerEvent { get; set; }
}

internal sealed class ProbeHandler(ProbeDbContext db, FailurePlan plan) : IEventHandler<OrderCreated>
{
    public async Task HandleAsync(OrderCreated evt, Outbox outbox, CancellationToken cancellationToken)
    {
        if (plan.DelayPerEvent is { } delay) await Task.Delay(delay, CancellationToken.None);
        plan.Attempts.AddOrUpdate(evt.OrderId, 1, (_, n) => n + 1);
        if (plan.Permanent.Contains(evt.OrderId)) throw new PermanentMessageException($"order {evt.OrderId} is refused by the probe");
        if (plan.FailuresLeft.TryGetValue(evt.OrderId, out var left) && left > 0)
        {
            plan.FailuresLeft[evt.OrderId] = left - 1;
            throw new TimeoutException($"transient failure injected for {evt.OrderId}");
        }
        db.Applications.Add(new Application { EventId = evt.EventId, OrderId = evt.OrderId });
    }
}

/// <summary>Applies an order's event only if the order has no application yet, as a handler that looks at its module's state does.</summary>
internal sealed class ProbeOncePerOrderHandler(ProbeDbContext db, FailurePlan plan) : IEventHandler<OrderCreated>
{
    public async Task HandleAsync(OrderCreated evt, Outbox outbox, CancellationToken cancellationToken)
    {
        if (plan.DelayPerEvent is { } delay) await Task.Delay(delay, CancellationToken.None);
        var existing = await db.FindOfOrderAsync<Application>(evt.OrderId, a => a.OrderId == evt.OrderId,
            ct => db.Applications.FirstOrDefaultAsync(a => a.OrderId == evt.OrderId, ct), cancellationToken);
        if (existing is null) db.Applications.Add(new Application { EventId = evt.EventId, OrderId = evt.OrderId });
    }
}

/// <summary>
/// Takes the file's write turn itself (and lets it go) before applying, as another module's
/// writer would while this handler runs; records whether it got the turn within two seconds.
/// </summary>
internal sealed class ProbeTakesTheWriteTurnHandler(ProbeDbContext db, FailurePlan plan) : IEventHandler<OrderCreated>
{
    public async Task HandleAsync(OrderCreated evt, Outbox outbox, CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        try
        {
            using (await WriteGate.EnterAsync(db.Database, timeout.Token)) plan.Attempts.AddOrUpdate(evt.OrderId, 1, (_, n) => n + 1);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            throw new PermanentMessageException("the write turn was held while the handler ran");
        }
        db.Applications.Add(new Application { EventId = evt.EventId, OrderId = evt.OrderId });
    }
}

/// <summary>A generic host running only the probe module against a broker and a SQLite file.</summary>
public sealed class ProbeHost : IAsyncDisposable
{
    private readonly IHost host;

    private ProbeHost(IHost host, string databasePath)
    {
        this.host = host;
        DatabasePath = databasePath;
    }

    public string DatabasePath { get; }
    public IServiceProvider Services => host.Services;
    public FailurePlan Plan => host.Services.GetRequiredService<FailurePlan>();

    /// <param name="consumer">Registers the probe's handlers and preload; by default <see cref="ProbeHandler"/> alone.</param>
    public static async Task<ProbeHost> StartAsync(string bootstrapServers, string databasePath, string module, string topic, Dictionary<string, string?>? settings = null, FailurePlan? plan = null,
        Action<EventConsumerBuilder<ProbeDbContext>>? consumer = null)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        var config = new Dictionary<string, string?>
        {
            ["Kafka:BootstrapServers"] = bootstrapServers,
            ["Kafka:UsingEmbeddedBroker"] = "true",
            ["OrderFlow:Database:Path"] = databasePath,
            ["OrderFlow:Messaging:InitialBackoffMs"] = "10",
            ["OrderFlow:Messaging:MaxBackoffMs"] = "50",
        };
        foreach (var (k, v) in settings ?? []) config[k] = v;
        builder.Configuration.AddInMemoryCollection(config);
        builder.Logging.SetMinimumLevel(LogLevel.Warning).AddConsole();
        builder.Services.AddSingleton(plan ?? new FailurePlan());
        builder.Services.AddMessaging(builder.Configuration);
        builder.Services.AddStoreOptions(builder.Configuration);
        builder.Services.AddDbContext<ProbeDbContext>((sp, options) => StoreServiceCollectionExtensions.Configure<ProbeDbContext>(
            options, sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<StoreOptions>>().Value));
        var registration = builder.Services.AddEventConsumer<ProbeDbContext>(module, topic);
        if (consumer is null) registration.Handle<OrderCreated, ProbeHandler>(1, 2);
        else consumer(registration);

        var host = builder.Build();
        await CreateSchemaAsync(host.Services);
        await host.StartAsync();
        return new ProbeHost(host, databasePath);
    }

    /// <summary>
    /// The probe has no migrations; its tables are created from the model, once per file, in WAL
    /// mode as the modules' store migrator leaves a file: in rollback-journal mode a consumer's
    /// read snapshot (ReadSnapshot) would hold the other writers' commits back.
    /// </summary>
    private static async Task CreateSchemaAsync(IServiceProvider services)
    {
        await using var scope = services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ProbeDbContext>();
        SqlitePragmas.EnableWal(db.Database.GetConnectionString()!, new StoreOptions().PageSize);
        if (await db.Database.SqlQueryRaw<int>("SELECT count(*) AS \"Value\" FROM sqlite_master WHERE name = 'probe_inbox'").SingleAsync() > 0) return;
        await db.Database.ExecuteSqlRawAsync(db.Database.GenerateCreateScript());
    }

    public async Task<List<Application>> ApplicationsAsync()
    {
        await using var scope = host.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<ProbeDbContext>().Applications.AsNoTracking().ToListAsync();
    }

    /// <summary>Writes events to the probe's outbox in one transaction, as a module's handler would.</summary>
    public async Task AddToOutboxAsync(params IntegrationEvent[] events)
    {
        await using var scope = host.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ProbeDbContext>();
        await using var transaction = await db.Database.BeginTransactionAsync();
        var outbox = new Outbox(db, null, DateTime.UtcNow);
        foreach (var evt in events) outbox.Add(evt);
        await db.SaveChangesAsync();
        await transaction.CommitAsync();
        host.Services.GetRequiredService<OutboxSignal<ProbeDbContext>>().Notify();
    }

    public async Task StopAsync() => await host.StopAsync();

    public async ValueTask DisposeAsync()
    {
        await host.StopAsync();
        host.Dispose();
        SqliteConnection.ClearAllPools();
    }
}

/// <summary>A consumed message of the probe module, for tests that parse one without a broker.</summary>
internal static class ProbeMessages
{
    /// <summary>The probe module's consumer: <see cref="OrderCreated"/> (versions 1 and 2) on <c>probe-topic</c>.</summary>
    public static readonly EventConsumerRegistration Registration =
        new ServiceCollection().AddEventConsumer<ProbeDbContext>("probe", "probe-topic").Handle<OrderCreated, ProbeHandler>(1, 2).Registration;

    /// <summary>Kafka headers with these UTF-8 values.</summary>
    public static Headers HeadersOf(params (string Name, string Value)[] headers)
    {
        var kafkaHeaders = new Headers();
        foreach (var (name, value) in headers) kafkaHeaders.Add(name, System.Text.Encoding.UTF8.GetBytes(value));
        return kafkaHeaders;
    }

    /// <summary>What the consumer reads: <paramref name="value"/> keyed by <paramref name="key"/> at offset 1 of partition 0 of <c>probe-topic</c>.</summary>
    public static ConsumeResult<byte[]?, byte[]?> Consumed(string key, byte[]? value, Headers headers) => new()
    {
        Topic = "probe-topic",
        Partition = new Partition(0),
        Offset = new Offset(1),
        Message = new Message<byte[]?, byte[]?> { Key = System.Text.Encoding.UTF8.GetBytes(key), Value = value, Headers = headers },
    };
}
