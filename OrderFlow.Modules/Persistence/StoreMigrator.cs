using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace OrderFlow.Persistence;

/// <summary>
/// Applies every registered module's migrations at start-up, one module after the other
/// (StartAsync blocks, so hosted services registered later — the consumers — start after it).
/// </summary>
internal sealed partial class StoreMigrator(
    IServiceScopeFactory scopes, IEnumerable<ModuleStore> stores, IOptions<StoreOptions> options, ILogger<StoreMigrator> logger)
    : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        SqlitePragmas.EnableWal(options.Value.ConnectionString(), options.Value.PageSize);
        foreach (var store in stores.DistinctBy(s => s.ContextType))
        {
            await using var scope = scopes.CreateAsyncScope();
            var db = (DbContext)scope.ServiceProvider.GetRequiredService(store.ContextType);
            await db.Database.MigrateAsync(cancellationToken);
            LogMigrated(store.ContextType.Name);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(LogLevel.Debug, "Store {Context} is up to date")]
    private partial void LogMigrated(string context);
}
