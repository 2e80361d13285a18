using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using OrderFlow.Persistence;

namespace OrderFlow.Host.Health;

/// <summary>
/// Ready when the shared SQLite file exists, opens, and holds the migrations table of every module
/// this host runs. The probe opens the file read-write without creating it: a file deleted or
/// replaced under a running host is reported, not silently made again as an empty database.
/// </summary>
internal sealed class DatabaseHealthCheck(IOptions<StoreOptions> options, IEnumerable<ModuleStore> stores) : IHealthCheck
{
    private readonly string[] migrationTables = stores.Select(s => s.ContextType).Distinct()
        .Select(StoreServiceCollectionExtensions.MigrationsTableOf).Order(StringComparer.Ordinal).ToArray();

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var store = options.Value;
        var path = Path.GetFullPath(store.Path);
        if (!File.Exists(path)) return HealthCheckResult.Unhealthy($"SQLite at {store.Path}: the file does not exist");
        try
        {
            var connectionString = new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadWrite, Pooling = true }.ToString();
            await using var connection = new SqliteConnection(connectionString);
            await connection.OpenAsync(cancellationToken);
            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT name FROM sqlite_master WHERE type = 'table'";
            var present = new HashSet<string>(StringComparer.Ordinal);
            await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
                while (await reader.ReadAsync(cancellationToken)) present.Add(reader.GetString(0));
            var missing = migrationTables.Where(t => !present.Contains(t)).ToList();
            return missing.Count == 0
                ? HealthCheckResult.Healthy($"SQLite at {store.Path}")
                : HealthCheckResult.Unhealthy($"SQLite at {store.Path} lacks {string.Join(", ", missing)}: not migrated yet, or not this host's database");
        }
        catch (SqliteException ex)
        {
            return HealthCheckResult.Unhealthy($"SQLite at {store.Path} is not reachable: {ex.Message}");
        }
    }
}
