using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Storage;

namespace OrderFlow.Persistence;

/// <summary>
/// One writer at a time per database file inside this process, queued in arrival order.
/// SQLite has a single write lock per file. Without this gate every module's consumer, relay,
/// saga and the load generator wait for it inside SQLite: the busy handler sleeps between tries
/// (up to 100 ms) and Microsoft.Data.Sqlite retries BUSY with 150 ms sleeps, so a waiter can
/// starve past the busy timeout ("database is locked") while the others take turns, and every
/// wait costs a sleep. Here waiters are woken as soon as the writer before them finishes.
/// Other processes on the same file still meet SQLite's lock and the busy timeout.
/// See docs/benchmarks.md (profile: 17 % of all thread time was spent inside BEGIN IMMEDIATE).
/// </summary>
public static class WriteGate
{
    private static readonly ConcurrentDictionary<string, SemaphoreSlim> Gates = new(StringComparer.Ordinal);

    /// <summary>Waits for this file's write turn; dispose the result to hand it on.</summary>
    public static async Task<IDisposable> EnterAsync(DatabaseFacade database, CancellationToken cancellationToken)
    {
        var gate = Gates.GetOrAdd(database.GetConnectionString() ?? "", _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(cancellationToken);
        return new Turn(gate);
    }

    /// <summary>
    /// A write transaction taken in turn: the gate is held until the transaction is disposed,
    /// so commit or roll back inside an <c>await using</c>.
    /// </summary>
    public static async Task<WriteTransaction> BeginWriteTransactionAsync(this DatabaseFacade database, CancellationToken cancellationToken)
    {
        var turn = await EnterAsync(database, cancellationToken);
        try
        {
            return new WriteTransaction(await database.BeginTransactionAsync(cancellationToken), turn);
        }
        catch
        {
            turn.Dispose();
            throw;
        }
    }

    private sealed class Turn(SemaphoreSlim gate) : IDisposable
    {
        private int released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref released, 1) == 0) gate.Release();
        }
    }
}

/// <summary>An EF Core transaction that also holds the file's <see cref="WriteGate"/> turn until disposed.</summary>
public sealed class WriteTransaction(IDbContextTransaction transaction, IDisposable turn) : IAsyncDisposable
{
    public Task CommitAsync(CancellationToken cancellationToken) => transaction.CommitAsync(cancellationToken);

    public Task RollbackAsync(CancellationToken cancellationToken) => transaction.RollbackAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        try
        {
            await transaction.DisposeAsync();
        }
        finally
        {
            turn.Dispose();
        }
    }
}
