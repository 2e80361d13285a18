using System.Data.Common;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace OrderFlow.Persistence;

/// <summary>
/// SQLite-only settings, applied to every connection as it opens (the one SQLite-specific place
/// of the store set-up): WAL so readers never block the writer, a busy timeout so a writer waits
/// for the lock instead of failing with "database is locked", and synchronous=NORMAL, which in
/// WAL mode is durable across process crashes (only an OS crash can lose the last commits), and
/// the WAL size at which a commit checkpoints (see <see cref="WalCheckpointer"/>).
/// </summary>
internal sealed class SqlitePragmas(int busyTimeoutMs, int autoCheckpointPages) : DbConnectionInterceptor
{
    public override void ConnectionOpened(DbConnection connection, ConnectionEndEventData eventData) => Apply(connection);

    public override Task ConnectionOpenedAsync(DbConnection connection, ConnectionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        Apply(connection);
        return Task.CompletedTask;
    }

    private void Apply(DbConnection connection)
    {
        if (connection is not Microsoft.Data.Sqlite.SqliteConnection) return;
        using var command = connection.CreateCommand();
        command.CommandText = $"PRAGMA busy_timeout={busyTimeoutMs}; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA wal_autocheckpoint={autoCheckpointPages};";
        command.ExecuteNonQuery();
    }

    public static void EnableWal(string connectionString)
    {
        using var connection = new Microsoft.Data.Sqlite.SqliteConnection(connectionString);
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode=WAL;";
        command.ExecuteNonQuery();
    }
}
