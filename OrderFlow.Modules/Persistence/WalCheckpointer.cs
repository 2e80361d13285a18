using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace OrderFlow.Persistence;

/// <summary>
/// Checkpoints the write-ahead log in the background, so writers do not. By default SQLite runs a
/// checkpoint inside the commit that takes the WAL past 1,000 pages: that commit copies the pages
/// into the database file and syncs it while holding the file's only write turn, and in the 200k
/// run the four consumers spent 21 s of 139 s committing (docs/benchmarks.md). A PASSIVE
/// checkpoint on a connection of its own runs next to the writer and never waits for it. Module
/// connections keep an automatic checkpoint at <see cref="StoreOptions.AutoCheckpointBytes"/> as a
/// backstop for processes that write without running this service, and as the WAL's bound: under
/// a constant write load the background checkpoint rarely catches up completely, so SQLite cannot
/// restart the log and it grows to the backstop (~64 MB) before a commit checkpoints.
/// </summary>
internal sealed partial class WalCheckpointer(IOptions<StoreOptions> options, ILogger<WalCheckpointer> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var store = options.Value;
        if (store.CheckpointIntervalMs <= 0) return;
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(store.CheckpointIntervalMs));
        await using var connection = new SqliteConnection(store.ConnectionString());
        try
        {
            await connection.OpenAsync(stoppingToken);
            await using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA wal_checkpoint(PASSIVE);";
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    await command.ExecuteNonQueryAsync(stoppingToken);
                }
                catch (SqliteException ex)
                {
                    // The next tick tries again; a commit checkpoints by itself at the backstop size.
                    LogCheckpointFailed(ex);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    [LoggerMessage(LogLevel.Warning, "WAL checkpoint failed; retrying on the next tick")]
    private partial void LogCheckpointFailed(Exception ex);
}
