using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using OrderFlow.Contracts;
using OrderFlow.Persistence;

namespace OrderFlow.Messaging;

/// <summary>How one event type is applied by one module: the CLR type, the versions it accepts, the handler.</summary>
internal sealed record HandlerBinding(
    Type EventType,
    IReadOnlySet<int> Versions,
    Func<IServiceProvider, IntegrationEvent, Outbox, CancellationToken, Task> Invoke,
    Func<IntegrationEvent, string?>? Validate,
    Func<IntegrationEvent, bool>? When,
    UnreadWhen? SkipUnread = null);

/// <summary>
/// A payload whose top-level boolean <paramref name="Property"/> is <paramref name="Value"/> is an
/// event the binding's <c>When</c> refuses: skipped by the consumer's deserializer unread
/// (<see cref="UnhandledPayloadFilter"/>).
/// </summary>
internal sealed record UnreadWhen(string Property, bool Value);

/// <summary>One module's consumer: its group, topics and the written-out map from event type to handler.</summary>
public sealed class EventConsumerRegistration
{
    internal EventConsumerRegistration(string module, IReadOnlyList<string> topics)
    {
        Module = module;
        GroupId = $"orderflow-{module}";
        Topics = topics;
    }

    public string Module { get; }
    public string GroupId { get; }
    public IReadOnlyList<string> Topics { get; }
    internal Dictionary<string, HandlerBinding> Handlers { get; } = new(StringComparer.Ordinal);

    /// <summary>Loads a batch's rows (by order id) into the context before the handlers run; see <see cref="EventConsumerBuilder{TContext}.Preload"/>.</summary>
    internal Func<ModuleDbContext, IReadOnlySet<string>, CancellationToken, Task>? Preload { get; set; }
}

public sealed class EventConsumerBuilder<TContext> where TContext : ModuleDbContext
{
    private readonly IServiceCollection services;

    internal EventConsumerBuilder(IServiceCollection services, EventConsumerRegistration registration)
    {
        this.services = services;
        Registration = registration;
    }

    public EventConsumerRegistration Registration { get; }

    /// <summary>Applies <typeparamref name="TEvent"/> with <typeparamref name="THandler"/>; <paramref name="versions"/> defaults to 1.</summary>
    public EventConsumerBuilder<TContext> Handle<TEvent, THandler>(params int[] versions)
        where TEvent : IntegrationEvent
        where THandler : class, IEventHandler<TEvent>
        => Handle<TEvent, THandler>(null, versions);

    /// <summary>As <see cref="Handle{TEvent,THandler}(int[])"/>, with a check whose message dead-letters an invalid event.</summary>
    public EventConsumerBuilder<TContext> Handle<TEvent, THandler>(Func<TEvent, string?>? validate, params int[] versions)
        where TEvent : IntegrationEvent
        where THandler : class, IEventHandler<TEvent>
    {
        services.TryAddScoped<THandler>();
        Registration.Handlers[typeof(TEvent).Name] = new HandlerBinding(
            typeof(TEvent),
            (versions.Length == 0 ? [1] : versions).ToHashSet(),
            (sp, evt, outbox, ct) => sp.GetRequiredService<THandler>().HandleAsync((TEvent)evt, outbox, ct),
            validate is null ? null : evt => validate((TEvent)evt),
            null);
        return this;
    }

    /// <summary>
    /// Loads, in one query per batch, the rows the handlers will look up (given the batch's order
    /// ids), so each lookup is answered by the change tracker instead of a query of its own.
    /// <c>FindAsync</c> looks in the tracker by itself; a lookup by another column uses
    /// <see cref="ModuleDbContext.FindOfOrderAsync{T}"/>, which trusts the tracker only for the
    /// orders preloaded. The preload must load <em>every</em> row of those orders that the
    /// handlers look for.
    /// </summary>
    public EventConsumerBuilder<TContext> Preload(Func<TContext, IReadOnlySet<string>, CancellationToken, Task> preload)
    {
        Registration.Preload = (db, orderIds, ct) => preload((TContext)db, orderIds, ct);
        return this;
    }

    /// <summary>
    /// <see cref="Preload(Func{TContext, IReadOnlySet{string}, CancellationToken, Task})"/> with a
    /// query over the batch's order ids, compiled once (<see cref="EF.CompileAsyncQuery{TContext, TParam1, TResult}(System.Linq.Expressions.Expression{Func{TContext, TParam1, IQueryable{TResult}}})"/>):
    /// EF Core's look-up of a LINQ query in its cache (the expression's parameters extracted,
    /// the cache key hashed) was ~0.8 % of the CPU at full speed, once per batch and module
    /// (docs/benchmarks.md). The rows are tracked, as the query's own would be.
    /// </summary>
    public EventConsumerBuilder<TContext> Preload<TRow>(System.Linq.Expressions.Expression<Func<TContext, IReadOnlySet<string>, IQueryable<TRow>>> query)
    {
        var compiled = EF.CompileAsyncQuery(query);
        return Preload(async (db, orderIds, ct) =>
        {
            await foreach (var _ in compiled(db, orderIds).WithCancellation(ct))
            {
            }
        });
    }

    /// <summary>
    /// <see cref="Preload{TRow}(System.Linq.Expressions.Expression{Func{TContext, IReadOnlySet{string}, IQueryable{TRow}}})"/>
    /// without EF Core's change tracking: the rows are read with <c>AsNoTracking</c> and handed to
    /// the context as rows read untracked (<see cref="ModuleDbContext.FindOfOrderAsync{T}"/> finds
    /// them; the consumers' writer updates the columns that changed, docs/benchmarks.md). For
    /// handlers that look their rows up with <see cref="ModuleDbContext.FindOfOrderAsync{T}"/>
    /// only: <c>FindAsync</c> and <c>Local</c> do not see them. A row the writer cannot update
    /// from a snapshot (it has navigations) is tracked as the tracked preload would.
    /// </summary>
    public EventConsumerBuilder<TContext> PreloadUntracked<TRow>(System.Linq.Expressions.Expression<Func<TContext, IReadOnlySet<string>, IQueryable<TRow>>> query)
        where TRow : class
    {
        var untracked = System.Linq.Expressions.Expression.Lambda<Func<TContext, IReadOnlySet<string>, IQueryable<TRow>>>(
            System.Linq.Expressions.Expression.Call(typeof(EntityFrameworkQueryableExtensions), nameof(EntityFrameworkQueryableExtensions.AsNoTracking), [typeof(TRow)], query.Body),
            query.Parameters);
        var compiled = EF.CompileAsyncQuery(untracked);
        return Preload(async (db, orderIds, ct) =>
        {
            await foreach (var row in compiled(db, orderIds).WithCancellation(ct))
            {
                if (TrackedChangesWriter.Snapshot(db, row) is { } loaded) db.AddLoaded(loaded);
                else db.Attach(row);
            }
        });
    }

    /// <summary>
    /// Applies only the <typeparamref name="TEvent"/>s that match <paramref name="when"/>; the
    /// others are skipped like events of a type this module does not handle (no inbox row).
    /// </summary>
    public EventConsumerBuilder<TContext> HandleWhen<TEvent, THandler>(Func<TEvent, bool> when, params int[] versions)
        where TEvent : IntegrationEvent
        where THandler : class, IEventHandler<TEvent>
    {
        Handle<TEvent, THandler>(null, versions);
        Registration.Handlers[typeof(TEvent).Name] = Registration.Handlers[typeof(TEvent).Name] with { When = evt => when((TEvent)evt) };
        return this;
    }

    /// <summary>
    /// A <typeparamref name="TEvent"/> whose payload has the top-level boolean
    /// <paramref name="property"/> (its JSON name) equal to <paramref name="value"/> is skipped
    /// without being copied or deserialized, as an event of a type the module does not handle is.
    /// It must be one that the <see cref="HandleWhen{TEvent, THandler}"/> condition refuses: the
    /// payload's value is the event's. Where the property is absent, repeated, not a boolean or the
    /// payload is not JSON, the event is read and judged as before.
    /// </summary>
    public EventConsumerBuilder<TContext> SkipUnreadWhen<TEvent>(string property, bool value) where TEvent : IntegrationEvent
    {
        if (!Registration.Handlers.TryGetValue(typeof(TEvent).Name, out var binding) || binding.When is null)
            throw new InvalidOperationException($"{typeof(TEvent).Name} is skipped unread only where HandleWhen applies it conditionally");
        Registration.Handlers[typeof(TEvent).Name] = binding with { SkipUnread = new UnreadWhen(property, value) };
        return this;
    }
}

public static class MessagingServiceCollectionExtensions
{
    /// <summary>The process-wide messaging services: client factory, shared producer, dead letters, metrics.</summary>
    public static IServiceCollection AddMessaging(this IServiceCollection services, Microsoft.Extensions.Configuration.IConfiguration configuration)
    {
        services.AddOptions<KafkaOptions>().BindKnown(configuration.GetSection(KafkaOptions.Section)).Check(o => o.Problems());
        services.AddOptions<MessagingOptions>().BindKnown(configuration.GetSection(MessagingOptions.Section)).ValidateDataAnnotations();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<KafkaClientFactory>();
        services.TryAddSingleton<SharedProducer>();
        services.TryAddSingleton<DeadLetterPublisher>();
        services.AddMetrics();
        services.TryAddSingleton<MessagingMetrics>();
        services.TryAddSingleton<DeliveryJournal>();
        return services;
    }

    /// <summary>
    /// A hosted consumer for a module (group <c>orderflow-&lt;module&gt;</c>) and the relay of the
    /// module's outbox. Map each event type to its handler on the returned builder.
    /// </summary>
    public static EventConsumerBuilder<TContext> AddEventConsumer<TContext>(this IServiceCollection services, string module, params string[] topics)
        where TContext : ModuleDbContext
    {
        var registration = new EventConsumerRegistration(module, topics);
        services.AddSingleton(registration);
        services.AddOutboxRelay<TContext>();
        services.AddSingleton<IHostedService>(sp => ActivatorUtilitiesCreate<EventConsumer<TContext>>(sp, registration));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, ConsumerLagMonitor>());
        return new EventConsumerBuilder<TContext>(services, registration);
    }

    /// <summary>The relay that publishes a module's outbox (added by <see cref="AddEventConsumer{TContext}"/>).</summary>
    public static IServiceCollection AddOutboxRelay<TContext>(this IServiceCollection services) where TContext : ModuleDbContext
    {
        services.TryAddSingleton<OutboxSignal<TContext>>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, OutboxRelay<TContext>>());
        return services;
    }

    private static T ActivatorUtilitiesCreate<T>(IServiceProvider sp, params object[] args) =>
        ActivatorUtilities.CreateInstance<T>(sp, args);
}
