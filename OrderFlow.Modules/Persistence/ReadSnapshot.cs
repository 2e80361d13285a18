using System.Data.Common;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;

namespace OrderFlow.Persistence;

/// <summary>
/// One read transaction (SQLite's deferred <c>BEGIN</c>: no lock until the first read, then a
/// snapshot of the database as of that read) for several reads of a unit of work outside its write
/// turn. Without it every statement is a read transaction of its own — a consumer's inbox check is
/// one per message —, and in WAL mode each one that starts after any other connection's commit
/// finds its connection's page cache stale and reads the pages it needs again
/// (docs/benchmarks.md, twenty-fifth session). Reads only: a write inside would need the write
/// lock, which the write turn (<see cref="WriteGate"/>) takes. It relies on WAL mode, in which a
/// reader holds no writer back (<see cref="StoreMigrator"/> puts every store file in it); in
/// rollback-journal mode a writer's commit would wait for the snapshot to end.
/// </summary>
internal sealed class ReadSnapshot : IAsyncDisposable
{
    private readonly DatabaseFacade database;
    private readonly DbTransaction transaction;

    private ReadSnapshot(DatabaseFacade database, DbTransaction transaction) => (this.database, this.transaction) = (database, transaction);

    /// <summary>Begins the snapshot on the context's open connection; EF Core's queries and <see cref="StatementCache"/> run inside it.</summary>
    public static async Task<ReadSnapshot> BeginAsync(DatabaseFacade database, CancellationToken cancellationToken)
    {
        var connection = database.GetDbConnection() as SqliteConnection
            ?? throw new InvalidOperationException("a read snapshot needs a SQLite connection");
        // deferred: true is "BEGIN"; Microsoft.Data.Sqlite's default is BEGIN IMMEDIATE, which takes the write lock.
        var transaction = connection.BeginTransaction(deferred: true);
        try
        {
            await database.UseTransactionAsync(transaction, cancellationToken);
            return new ReadSnapshot(database, transaction);
        }
        catch
        {
            await transaction.DisposeAsync();
            throw;
        }
    }

    /// <summary>Ends the read transaction (nothing was written: rolling back releases it as a commit would).</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            await database.UseTransactionAsync(null);
        }
        finally
        {
            await transaction.DisposeAsync();
        }
    }
}
