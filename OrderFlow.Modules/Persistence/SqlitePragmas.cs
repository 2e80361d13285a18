using System.Data.Common;
using System.Runtime.CompilerServices;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace OrderFlow.Persistence;

/// <summary>
/// SQLite-only settings, applied to every connection as it opens (the one SQLite-specific place
/// of the store set-up): WAL so readers never block the writer, a busy timeout so a writer waits
/// for the lock instead of failing with "database is locked", and synchronous=NORMAL, which in
/// WAL mode is durable across process crashes (only an OS crash can lose the last commits), and
/// the WAL size at which a commit checkpoints (see <see cref="WalCheckpointer"/>), in pages of the
/// file's own page size, so the bound in bytes is the same for a file made with another size.
/// </summary>
internal sealed class SqlitePragmas(int busyTimeoutMs, long autoCheckpointBytes) : DbConnectionInterceptor
{
    public override void ConnectionOpened(DbConnection connection, ConnectionEndEventData eventData) => Apply(connection);

    public override Task ConnectionOpenedAsync(DbConnection connection, ConnectionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        Apply(connection);
        return Task.CompletedTask;
    }

    /// <summary>The SQLite connections (handles) already set up: a pooled connection keeps its settings.</summary>
    private readonly ConditionalWeakTable<SQLitePCL.sqlite3, object> applied = new();

    // Once per SQLite connection, not per Open: Microsoft.Data.Sqlite's pool hands the same
    // connection out again with its settings as they were, and a consumer's batch opens its
    // context's connection several times. At 100 orders/s, with one message per batch, running the
    // set-up statements on every Open cost ~5 % of the CPU (docs/benchmarks.md).
    private void Apply(DbConnection connection)
    {
        if (connection is not Microsoft.Data.Sqlite.SqliteConnection { Handle: { } handle }) return;
        if (applied.TryGetValue(handle, out _)) return;
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA page_size;";
        var pageSize = Convert.ToInt64(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
        command.CommandText = $"PRAGMA busy_timeout={busyTimeoutMs}; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA wal_autocheckpoint={Math.Max(1, autoCheckpointBytes / pageSize)};";
        command.ExecuteNonQuery();
        applied.AddOrUpdate(handle, this);
    }

    /// <summary>
    /// Puts the file in WAL mode. A file with no tables yet gets <paramref name="pageSize"/> first:
    /// SQLite fixes the page size with the first write and cannot change it in WAL mode, so on a
    /// file that exists the page size statement does nothing.
    /// </summary>
    public static void EnableWal(string connectionString, int pageSize)
    {
        using var connection = new Microsoft.Data.Sqlite.SqliteConnection(connectionString);
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = $"PRAGMA page_size={pageSize}; PRAGMA journal_mode=WAL;";
        command.ExecuteNonQuery();
    }
}
