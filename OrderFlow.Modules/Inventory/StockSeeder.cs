using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OrderFlow.Inventory.Data;
using OrderFlow.Persistence;

namespace OrderFlow.Inventory;

/// <summary>Adds the configured catalogue's products that the store does not have yet (runs after the migrations).</summary>
internal sealed partial class StockSeeder(IServiceScopeFactory scopes, IOptions<InventoryOptions> options, ILogger<StockSeeder> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<InventoryDbContext>();
        await using var transaction = await db.Database.BeginWriteTransactionAsync(cancellationToken);
        var known = (await db.Stock.Select(s => s.ProductId).ToListAsync(cancellationToken)).ToHashSet();
        var added = 0;
        foreach (var (productId, quantity) in options.Value.Catalog)
        {
            if (known.Contains(productId)) continue;
            db.Stock.Add(new StockItem { ProductId = productId, InitialQuantity = quantity, Available = quantity });
            added++;
        }
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        if (added > 0) LogSeeded(added);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(LogLevel.Information, "Seeded {Count} products from the catalogue")]
    private partial void LogSeeded(int count);
}
