using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Storage;
using OrderFlow.Messaging;

namespace OrderFlow.Persistence;

/// <summary>
/// One writer at a time per database file inside this process, queued in arrival order.
/// SQLite has a single write lock per file. Without this gate every module's consumer, relay,
/// saga and the load generator wait for it inside SQLite: the busy handler sleeps between tries
/// (up to 100 ms) and Microsoft.Data.Sqlite retries BUSY with 150 ms sleeps, so a waiter can
/// starve past the busy timeout ("database is locked") while the others take turns, and every
/// wait costs a sleep. Here the next waiter runs as soon as the writer before it finishes.
/// Other processes on the same file still meet SQLite's lock and the busy timeout.
/// See docs/benchmarks.md (profile: 17 % of all thread time was spent inside BEGIN IMMEDIATE).
/// </summary>
public static class WriteGate
{
    private static readonly ConcurrentDictionary<string, Gate> Gates = new(StringComparer.Ordinal);

    /// <summary>Waits for this file's write turn; dispose the result (asynchronously where the caller can) to hand it on.</summary>
    public static async Task<WriteTurn> EnterAsync(DatabaseFacade database, CancellationToken cancellationToken)
    {
        var gate = Gates.GetOrAdd(database.GetConnectionString() ?? "", _ => new Gate());
        var home = SynchronizationContext.Current as DedicatedThread;
        // Without the caller's context: a turn handed over by a release starts at once on the
        // releasing thread (Gate), also for a caller on a thread of its own (DedicatedThread).
        var grantedAt = await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        // From the hand-over to this writer running: the turn lies idle meanwhile.
        if (grantedAt != 0) StageTimings.Record("write-turn.handoff", grantedAt);
        return new WriteTurn(gate, home);
    }

    /// <summary>How many writers of this process wait for the file's write turn, for tests.</summary>
    internal static int Waiting(DatabaseFacade database) =>
        Gates.TryGetValue(database.GetConnectionString() ?? "", out var gate) ? gate.Queued : 0;

    /// <summary>
    /// A write transaction taken in turn: the gate is held until the transaction is disposed,
    /// so commit or roll back inside an <c>await using</c>. Its commit raises the module's
    /// <see cref="ModuleState"/> version, unless <paramref name="insertsOnly"/> says that it only
    /// adds new aggregates (a new order), which no consumer can have loaded or looked up before.
    /// </summary>
    public static async Task<WriteTransaction> BeginWriteTransactionAsync(this DatabaseFacade database, CancellationToken cancellationToken, bool insertsOnly = false)
    {
        var turn = await EnterAsync(database, cancellationToken).ConfigureAwait(false);
        try
        {
            var module = insertsOnly ? null : database.GetService<ICurrentDbContext>().Context as ModuleDbContext;
            return new WriteTransaction(await database.BeginTransactionAsync(cancellationToken).ConfigureAwait(false), turn, module);
        }
        catch
        {
            turn.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A first-come first-served lock whose release runs the next waiter on the releasing thread.
    /// A <see cref="SemaphoreSlim"/> completes its waiters asynchronously: the next writer was
    /// queued to the thread pool behind the work already queued there, and the turn lay idle
    /// meanwhile — 2.2 ms per hand-over on average, 27 % of a 100k run's wall time, with the turn
    /// held the other 70 % (docs/benchmarks.md, twenty-first session). A waiter here resumes inside
    /// <see cref="Release"/>, so the writers queued at a release take their turns back to back on
    /// the releasing thread while the other threads do the work before their turns. A writer handed
    /// the turn so leaves the borrowed thread when its turn ends — a consumer's worker when its
    /// batch's attempt returns to its own thread, any other writer in
    /// <see cref="WriteTurn.DisposeAsync"/> — so the releasing writer is held up by the others'
    /// turns, not by their work after them. The chain is as deep as the writers queued at a
    /// release; .NET runs a continuation on the same stack only while the stack has room
    /// (Task.RunContinuations checks it), else it queues it.
    /// </summary>
    internal sealed class Gate
    {
        // How many hand-overs this thread is inside: a writer that runs inside one was given the
        // turn by another writer's release and is borrowing that writer's thread.
        [ThreadStatic] private static int handingOver;

        /// <summary>Whether the current code runs inside a <see cref="Release"/> that handed the turn to it.</summary>
        public static bool InsideHandOver => handingOver > 0;

        /// <summary>How many callers wait (cancelled ones included until a release skips them).</summary>
        public int Queued
        {
            get
            {
                lock (sync) return waiters.Count;
            }
        }

        private readonly Lock sync = new();
        private readonly Queue<Waiter> waiters = new();
        private bool held;

        /// <summary>Completes when the turn is this caller's: with 0 when it was free, else with the <see cref="System.Diagnostics.Stopwatch"/> timestamp of the hand-over.</summary>
        public Task<long> WaitAsync(CancellationToken cancellationToken)
        {
            if (cancellationToken.IsCancellationRequested) return Task.FromCanceled<long>(cancellationToken);
            Waiter waiter;
            lock (sync)
            {
                if (!held)
                {
                    held = true;
                    return Free;
                }
                waiter = new Waiter();
                waiters.Enqueue(waiter);
                // Inside the lock, so a release that hands this waiter the turn sees the
                // registration to undo. Cancel takes no lock: a token cancelled meanwhile runs it here.
                if (cancellationToken.CanBeCanceled)
                    waiter.Registration = cancellationToken.UnsafeRegister(static (state, token) => ((Waiter)state!).Cancel(token), waiter);
            }
            return waiter.Task;
        }

        /// <summary>Hands the turn to the longest waiting caller, whose continuation runs before this returns; frees it when none waits.</summary>
        public void Release()
        {
            Waiter? next = null;
            lock (sync)
            {
                if (!held) throw new InvalidOperationException("the write turn was released twice");
                while (waiters.TryDequeue(out var waiter))
                {
                    if (waiter.TryClaim())
                    {
                        next = waiter;
                        break;
                    }
                }
                if (next is null) held = false;
            }
            if (next is null) return;
            // Outside the lock: the waiter's continuation runs here, and may release in turn.
            // .NET runs a continuation inline only where no synchronization context is set
            // (AwaitTaskContinuation.IsValidLocationForInlining), and this thread may be a
            // consumer worker's, which has one (DedicatedThread): it is set aside meanwhile.
            var context = SynchronizationContext.Current;
            SynchronizationContext.SetSynchronizationContext(null);
            handingOver++;
            try
            {
                next.Grant();
            }
            finally
            {
                handingOver--;
                SynchronizationContext.SetSynchronizationContext(context);
            }
        }

        private static readonly Task<long> Free = Task.FromResult(0L);
    }

    /// <summary>One queued writer: given the turn or cancelled, whichever comes first.</summary>
    private sealed class Waiter
    {
        // Without RunContinuationsAsynchronously: completing the task runs the awaiting writer inline.
        private readonly TaskCompletionSource<long> source = new();
        private int state; // 0 waiting, 1 given the turn, 2 cancelled

        public Task<long> Task => source.Task;
        public CancellationTokenRegistration Registration { get; set; }

        public bool TryClaim() => Interlocked.CompareExchange(ref state, 1, 0) == 0;

        public void Grant()
        {
            Registration.Dispose();
            source.SetResult(System.Diagnostics.Stopwatch.GetTimestamp());
        }

        public void Cancel(CancellationToken token)
        {
            // A cancelled waiter stays queued until a release skips it. Its continuation goes to
            // the thread pool rather than onto the thread that cancelled the token.
            if (Interlocked.CompareExchange(ref state, 2, 0) == 0)
                ThreadPool.UnsafeQueueUserWorkItem(static s => s.source.TrySetCanceled(s.token), (source, token), preferLocal: false);
        }
    }
}

/// <summary>
/// A write turn (<see cref="WriteGate.EnterAsync"/>); disposing it hands the turn on. A turn that
/// another writer's release handed over runs on that writer's thread; disposed asynchronously, it
/// leaves that thread for the pool, unless its writer has a thread of its own to go back to
/// (<see cref="DedicatedThread"/>), so the releasing writer goes on with its own work.
/// </summary>
public sealed class WriteTurn : IDisposable, IAsyncDisposable
{
    private readonly WriteGate.Gate gate;
    private readonly DedicatedThread? home;
    // The thread raised for the turn (WriterPriority), or 0.
    private readonly int raised;
    private int released;

    internal WriteTurn(WriteGate.Gate gate, DedicatedThread? home)
    {
        this.gate = gate;
        this.home = home;
        raised = WriterPriority.RaiseCurrentThread();
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref released, 1) != 0) return;
        // Before the release: the next writer may run on this thread, and raises it again.
        WriterPriority.Restore(raised);
        gate.Release();
    }

    public async ValueTask DisposeAsync()
    {
        Dispose();
        // A writer on a thread of its own goes back to it at its caller's next await that
        // captured that thread's context (a consumer's: when its batch's attempt returns); any
        // other leaves the borrowed thread for the pool here, before its own work goes on.
        if (WriteGate.Gate.InsideHandOver && home is null) await Task.CompletedTask.ConfigureAwait(ConfigureAwaitOptions.ForceYielding);
    }
}

/// <summary>An EF Core transaction that also holds the file's <see cref="WriteGate"/> turn until disposed.</summary>
public sealed class WriteTransaction(IDbContextTransaction transaction, WriteTurn turn, ModuleDbContext? module) : IAsyncDisposable
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
            await turn.DisposeAsync();
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
