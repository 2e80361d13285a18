using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

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
        // The options are built once: per context they cost a connection string, a builder and
        // EF Core's lookup of its internal service provider, for every consumer batch.
        services.AddDbContext<TContext>((sp, options) => Configure<TContext>(options, sp.GetRequiredService<IOptions<StoreOptions>>().Value),
            optionsLifetime: ServiceLifetime.Singleton);
        services.AddSingleton(new ModuleStore(typeof(TContext)));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, StoreMigrator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, WalCheckpointer>());
        return services;
    }

    public static IServiceCollection AddStoreOptions(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<StoreOptions>().Bind(configuration.GetSection(StoreOptions.Section));
        return services;
    }

    internal static void Configure<TContext>(DbContextOptionsBuilder options, StoreOptions store) where TContext : ModuleDbContext
    {
        var prefix = TablePrefixOf(typeof(TContext));
        options.UseSqlite(store.ConnectionString(), sqlite => sqlite.MigrationsHistoryTable($"__{prefix}_migrations"))
            .UseQueryTrackingBehavior(QueryTrackingBehavior.TrackAll)
            .AddInterceptors(new SqlitePragmas(store.BusyTimeoutMs, store.AutoCheckpointPages), AfterCommitInterceptor.Instance);
    }

    /// <summary>The table prefix is the context's name without "DbContext", lower-cased: PaymentDbContext → payment.</summary>
    internal static string TablePrefixOf(Type contextType) => contextType.Name.Replace("DbContext", "").ToLowerInvariant();
}

/// <summary>Marks a module store so the migrator can find it.</summary>
internal sealed record ModuleStore(Type ContextType);
