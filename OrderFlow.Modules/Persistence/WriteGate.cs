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
    /// so commit or roll back inside an <c>await using</c>. Its commit raises the module's
    /// <see cref="ModuleState"/> version, unless <paramref name="insertsOnly"/> says that it only
    /// adds new aggregates (a new order), which no consumer can have loaded or looked up before.
    /// </summary>
    public static async Task<WriteTransaction> BeginWriteTransactionAsync(this DatabaseFacade database, CancellationToken cancellationToken, bool insertsOnly = false)
    {
        var turn = await EnterAsync(database, cancellationToken);
        try
        {
            var module = insertsOnly ? null : database.GetService<ICurrentDbContext>().Context as ModuleDbContext;
            return new WriteTransaction(await database.BeginTransactionAsync(cancellationToken), turn, module);
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
public sealed class WriteTransaction(IDbContextTransaction transaction, IDisposable turn, ModuleDbContext? module) : IAsyncDisposable
{
    public async Task CommitAsync(CancellationToken cancellationToken)
    {
        if (module is not null) await ModuleVersion.RaiseAsync(module, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }

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

/// <summary>
/// The version of a module's rows (<see cref="ModuleState"/>): every write transaction of the
/// module raises it (<see cref="WriteGate.BeginWriteTransactionAsync"/>), so two equal readings
/// mean that no transaction changed the module's rows in between. The relay's deletes of
/// published outbox rows do not raise it: no consumer reads the outbox.
/// </summary>
public static class ModuleVersion
{
    // Two plain statements on the context's connection: through EF Core's query pipeline (a
    // LINQ read and ExecuteUpdate) the three per batch cost ~70 µs of CPU per order.
    private static readonly ConcurrentDictionary<Type, (string Read, string Raise)> Sql = new();

    public static async Task<long> ReadAsync(ModuleDbContext db, CancellationToken cancellationToken) =>
        Convert.ToInt64(await ExecuteAsync(db, SqlOf(db).Read, scalar: true, cancellationToken), System.Globalization.CultureInfo.InvariantCulture);

    internal static async Task RaiseAsync(ModuleDbContext db, CancellationToken cancellationToken)
    {
        if (!Equals(await ExecuteAsync(db, SqlOf(db).Raise, scalar: false, cancellationToken), 1))
            throw new InvalidOperationException($"the {db.TablePrefix}_state row is missing; run the migrations");
    }

    private static async Task<object?> ExecuteAsync(ModuleDbContext db, string sql, bool scalar, CancellationToken cancellationToken)
    {
        await db.Database.OpenConnectionAsync(cancellationToken);
        try
        {
            await using var command = db.Database.GetDbConnection().CreateCommand();
            command.CommandText = sql;
            command.Transaction = db.Database.CurrentTransaction?.GetDbTransaction();
            return scalar ? await command.ExecuteScalarAsync(cancellationToken) : await command.ExecuteNonQueryAsync(cancellationToken);
        }
        finally
        {
            await db.Database.CloseConnectionAsync();
        }
    }

    private static (string Read, string Raise) SqlOf(ModuleDbContext db) => Sql.GetOrAdd(db.GetType(), _ =>
    {
        var entity = db.Model.FindEntityType(typeof(ModuleState))!;
        var sql = db.GetService<ISqlGenerationHelper>();
        var table = sql.DelimitIdentifier(entity.GetTableName()!);
        var id = sql.DelimitIdentifier(entity.FindProperty(nameof(ModuleState.Id))!.GetColumnName());
        var version = sql.DelimitIdentifier(entity.FindProperty(nameof(ModuleState.Version))!.GetColumnName());
        return ($"SELECT {version} FROM {table} WHERE {id} = {ModuleState.RowId}",
            $"UPDATE {table} SET {version} = {version} + 1 WHERE {id} = {ModuleState.RowId}");
    });
}
