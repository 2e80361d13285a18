using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using OrderFlow.Messaging;

namespace OrderFlow.Persistence;

public static class StoreServiceCollectionExtensions
{
    /// <summary>
    /// Registers a module's DbContext on the shared SQLite file, with its own migrations-history
    /// table, and makes sure its migrations run at start-up before any consumer starts.
    /// </summary>
    public static IServiceCollection AddModuleStore<TContext>(this IServiceCollection services, IConfiguration configuration)
        where TContext : ModuleDbContext
    {
        services.AddStoreOptions(configuration);
        // Pooled: a context per consumer batch cost EF Core's set-up of the context and its
        // internal services each time (~8 % of the CPU at 100 orders/s, docs/benchmarks.md). The
        // options are built once. A context sheds its unit of work's state when it is disposed
        // (ModuleDbContext), EF Core resets its own.
        services.AddDbContextPool<TContext>((sp, options) => Configure<TContext>(options, sp.GetRequiredService<IOptions<StoreOptions>>().Value));
        services.AddSingleton(new ModuleStore(typeof(TContext)));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, StoreMigrator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, WalCheckpointer>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, WriterPriority.Starter>());
        return services;
    }

    public static IServiceCollection AddStoreOptions(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<StoreOptions>().BindKnown(configuration.GetSection(StoreOptions.Section)).ValidateDataAnnotations()
            .Check(o => new[] { o.PathProblem(), o.PageSizeProblem() }.OfType<string>().ToList());
        return services;
    }

    internal static void Configure<TContext>(DbContextOptionsBuilder options, StoreOptions store) where TContext : ModuleDbContext
    {
        options.UseSqlite(store.ConnectionString(), sqlite => sqlite.MigrationsHistoryTable(MigrationsTableOf(typeof(TContext)))
                // A list parameter (the preloads' orderIds.Contains) as one JSON parameter read by
                // json_each: one SQL text per query, generated once. EF Core 10's default sends one
                // parameter per element, which regenerates the SQL on every execution (~4 % of the
                // allocations at full speed, docs/benchmarks.md).
                .UseParameterizedCollectionMode(ParameterTranslationMode.Parameter))
            .UseQueryTrackingBehavior(QueryTrackingBehavior.TrackAll)
            .AddInterceptors(new SqlitePragmas(store.BusyTimeoutMs, store.AutoCheckpointBytes), AfterCommitInterceptor.Instance);
    }

    /// <summary>The table prefix is the context's name without "DbContext", lower-cased: PaymentDbContext → payment.</summary>
    internal static string TablePrefixOf(Type contextType) => contextType.Name.Replace("DbContext", "").ToLowerInvariant();

    /// <summary>The table where EF Core records a module's applied migrations (<c>__orders_migrations</c>…).</summary>
    internal static string MigrationsTableOf(Type contextType) => $"__{TablePrefixOf(contextType)}_migrations";
}

/// <summary>Marks a module store so the migrator can find it.</summary>
internal sealed record ModuleStore(Type ContextType);
