using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.ChangeTracking;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace OrderFlow.Persistence;

/// <summary>
/// Base of every module's DbContext: maps the module's own inbox and outbox tables under its
/// table prefix (<c>payment_inbox</c>, <c>payment_outbox</c>). Each module has its own
/// migrations and migrations-history table. The modules' contexts come from EF Core's context pool
/// (<see cref="StoreServiceCollectionExtensions.AddModuleStore{TContext}"/>): what a unit of work
/// leaves on a context beyond EF Core's own state is dropped when it is disposed.
/// </summary>
public abstract class ModuleDbContext : DbContext
{
    private List<Action>? afterCommit;

    protected ModuleDbContext(DbContextOptions options) : base(options)
    {
        SavingChanges += (_, _) => OnSaving();
        SavedChanges += (_, _) => OnSaved();
        SaveChangesFailed += (_, _) => OnSaveFailed();
    }

    /// <summary>Before a save writes the tracked changes: EF Core's <c>SaveChanges</c> or the consumers' <see cref="TrackedChangesWriter"/>.</summary>
    public event Action? Saving;

    /// <summary>After a save wrote the tracked changes (the transaction may still roll back).</summary>
    public event Action? Saved;

    /// <summary>A save failed; what it wrote is rolled back with the transaction.</summary>
    public event Action? SaveFailed;

    internal void OnSaving()
    {
        BeforeSaving();
        Saving?.Invoke();
    }

    /// <summary>Runs before every save, ahead of the <see cref="Saving"/> subscribers: for what a context observes of its own saves (the Orders metrics).</summary>
    protected virtual void BeforeSaving()
    {
    }

    internal void OnSaved() => Saved?.Invoke();

    internal void OnSaveFailed()
    {
        // A failed save leaves nothing to count, even if the caller commits what came before.
        DiscardAfterCommit();
        SaveFailed?.Invoke();
    }

    /// <summary>Table prefix that shows which module owns a table, e.g. <c>payment</c>.</summary>
    public abstract string TablePrefix { get; }

    /// <summary>
    /// Runs <paramref name="action"/> once the current unit of work commits, and never if it rolls
    /// back. For observing what happened (metrics), never for changing state. An action that throws
    /// is logged, and the commit still succeeds for its caller.
    /// </summary>
    public void AfterCommit(Action action) => (afterCommit ??= []).Add(action);

    internal void RunAfterCommit()
    {
        var actions = afterCommit;
        afterCommit = null;
        if (actions is null) return;
        foreach (var action in actions)
        {
            try
            {
                action();
            }
            catch (Exception ex)
            {
                // The unit of work has committed. An observer that throws must not make it look
                // failed: its caller would apply it again — a consumer's batch is absorbed by the
                // inbox, but orders placed without an idempotency key would be placed twice.
                // Looked up so that it cannot throw here itself.
                var loggers = this.GetInfrastructure().GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance;
                AfterCommitLog.ActionFailed(loggers.CreateLogger<ModuleDbContext>(), ex, GetType().Name);
            }
        }
    }

    internal void DiscardAfterCommit() => afterCommit = null;

    private IReadOnlySet<string>? preloaded;

    /// <summary>
    /// Whether the consumer loaded this order's rows into the context for the current batch
    /// (<c>EventConsumerBuilder.Preload</c>): then every row of the order is tracked, and one that
    /// is not does not exist.
    /// </summary>
    public bool IsPreloaded(string orderId) => preloaded?.Contains(orderId) == true;

    internal void MarkPreloaded(IReadOnlySet<string> orderIds) => preloaded = orderIds;

    /// <summary>
    /// The first <typeparamref name="T"/> row of an order that matches <paramref name="match"/>: from
    /// the tracked rows when the batch preloaded the order (no query), else from <paramref name="query"/>.
    /// </summary>
    public async ValueTask<T?> FindOfOrderAsync<T>(string orderId, Func<T, bool> match, Func<CancellationToken, Task<T?>> query, CancellationToken cancellationToken)
        where T : class =>
        FindInserted(orderId, match) ?? FindLoaded(orderId, match) ?? (IsPreloaded(orderId) ? FindPreloaded(orderId, match) : await query(cancellationToken));

    private List<LoadedRow>? loaded;
    private Dictionary<(Type Type, string OrderId), object>? loadedByOrder;

    /// <summary>
    /// A row read without tracking (<c>EventConsumerBuilder.PreloadUntracked</c>) and the values it
    /// was read with (<see cref="Original"/>, snapshots by the columns' value comparers, in the
    /// order of the writer's table shape): the consumers' writer compares the row with them and
    /// updates the columns that changed, as EF Core would for a tracked row, without EF Core's
    /// identity map, snapshots and change detection (docs/benchmarks.md).
    /// </summary>
    internal sealed record LoadedRow(object Row, object?[] Original, Microsoft.EntityFrameworkCore.Metadata.IProperty[] Columns);

    /// <summary>Adds a row read untracked; <see cref="FindOfOrderAsync{T}"/> finds it.</summary>
    internal void AddLoaded(LoadedRow row)
    {
        (loaded ??= []).Add(row);
        IndexByOrder(ref loadedByOrder, row.Row);
    }

    /// <summary>After a save: the rows read untracked hold what was written, their snapshots are taken again (as EF Core accepts a tracked row's changes).</summary>
    internal void AcceptLoaded()
    {
        if (loaded is null) return;
        for (var i = 0; i < loaded.Count; i++) loaded[i] = TrackedChangesWriter.Snapshot(this, loaded[i].Row)!;
    }

    /// <summary>The rows <see cref="AddLoaded"/> added.</summary>
    internal IReadOnlyList<LoadedRow> Loaded => loaded ?? (IReadOnlyList<LoadedRow>)[];

    /// <summary>
    /// The <typeparamref name="T"/> rows read untracked in this unit of work, each with the value
    /// its <paramref name="property"/> was read with — what a tracked row's original value is
    /// (the Orders metrics tell a new terminal state by it).
    /// </summary>
    public IEnumerable<(T Row, object? Original)> LoadedRows<T>(string property) where T : class
    {
        if (loaded is null) yield break;
        Microsoft.EntityFrameworkCore.Metadata.IProperty[]? columns = null;
        var column = -1;
        foreach (var row in loaded)
        {
            if (row.Row is not T typed) continue;
            // Rows of one type share their columns: looked up once.
            if (!ReferenceEquals(row.Columns, columns))
            {
                (columns, column) = (row.Columns, Array.FindIndex(row.Columns, c => c.Name == property));
                if (column < 0) throw new ArgumentException($"{typeof(T).Name}.{property} is not a column", nameof(property));
            }
            yield return (typed, row.Original[column]);
        }
    }

    private T? FindLoaded<T>(string orderId, Func<T, bool> match) where T : class =>
        FindOfOrder(loaded, static row => row.Row, loadedByOrder, orderId, match);

    /// <summary>
    /// Hands the rows read untracked to EF Core's change tracker, with the values they were read
    /// with as their original values, so that <c>SaveChanges</c> writes what changed (a unit of
    /// work the consumers' writer leaves to EF Core).
    /// </summary>
    private void TrackLoaded()
    {
        if (loaded is null) return;
        var rows = loaded;
        (loaded, loadedByOrder) = (null, null);
        foreach (var row in rows)
        {
            var entry = Attach(row.Row);
            for (var i = 0; i < row.Columns.Length; i++)
                if (!row.Columns[i].IsPrimaryKey()) entry.Property(row.Columns[i]).OriginalValue = row.Original[i];
        }
    }

    private List<object>? inserts;
    private Dictionary<(Type Type, string OrderId), object>? insertedByOrder;

    /// <summary>
    /// Adds a row that this unit of work only inserts, without tracking it: no snapshot, no change
    /// detection, no identity map entry. The consumers' writer (<see cref="TrackedChangesWriter"/>)
    /// inserts it with the tracked changes; EF Core's <c>SaveChanges</c> adds it to the change
    /// tracker first. Its values are read when the unit of work is saved, so it may be filled in
    /// or changed until then; <see cref="FindOfOrderAsync{T}"/> finds it. After the save nothing
    /// tracks it: a later change or delete is a later unit of work's, on the row read again. Rows it
    /// owns in tables of their own (a reservation's lines) are inserted with it; a row with a
    /// generated key or other navigations sends the unit of work to <c>SaveChanges</c>.
    /// </summary>
    public void Insert<T>(T row) where T : class
    {
        (inserts ??= []).Add(row);
        IndexByOrder(ref insertedByOrder, row);
    }

    /// <summary>The rows <see cref="Insert{T}"/> added and no save has written yet.</summary>
    internal IReadOnlyList<object> PendingInserts => inserts ?? (IReadOnlyList<object>)[];

    /// <summary>The pending inserts of type <typeparamref name="T"/> (<see cref="Insert{T}"/>).</summary>
    public IEnumerable<T> Inserted<T>() => inserts?.OfType<T>() ?? [];

    /// <summary>
    /// The outbox rows a save of the change tracker wrote, in id order, as the relay sends them: for
    /// the writer to hand over once its transaction commits (<see cref="Messaging.OutboxSignal{TContext}.Committed"/>).
    /// </summary>
    internal IReadOnlyList<PendingOutboxRow> SavedOutboxRows() =>
        ChangeTracker.Entries<OutboxMessage>().Select(e => e.Entity).Where(m => m.Id > 0).OrderBy(m => m.Id)
            .Select(m => InboxOutboxWriter.ForRelay(m, m.Id)).ToList();

    /// <summary>Forgets the pending inserts: they were written (or the unit of work is dropped).</summary>
    internal void DiscardInserts() => (inserts, insertedByOrder) = (null, null);

    private T? FindInserted<T>(string orderId, Func<T, bool> match) where T : class =>
        FindOfOrder(inserts, static row => row, insertedByOrder, orderId, match);

    /// <summary>
    /// The first of <paramref name="rows"/> that is a <typeparamref name="T"/> and matches. Rows of
    /// an order are indexed by their own type (<see cref="IndexByOrder"/>): a miss there is a miss,
    /// and only a row the caller does not want (a narrower match) sends the lookup to all of them.
    /// </summary>
    private static T? FindOfOrder<T, TItem>(List<TItem>? rows, Func<TItem, object> rowOf, Dictionary<(Type Type, string OrderId), object>? byOrder,
        string orderId, Func<T, bool> match) where T : class
    {
        if (rows is null) return null;
        if (typeof(T).IsAssignableTo(typeof(IOrderRow)))
        {
            if (byOrder is null || !byOrder.TryGetValue((typeof(T), orderId), out var indexed)) return null;
            if (indexed is T found && match(found)) return found;
        }
        foreach (var item in rows)
            if (rowOf(item) is T row && match(row)) return row;
        return null;
    }

    /// <summary>Indexes a row of an order by its own type, as the index of tracked rows (<see cref="IndexOrderRows"/>) is.</summary>
    private static void IndexByOrder(ref Dictionary<(Type Type, string OrderId), object>? byOrder, object row)
    {
        if (row is IOrderRow ofOrder) (byOrder ??= []).TryAdd((row.GetType(), ofOrder.OrderId), row);
    }

    // EF Core's own save: the pending inserts join the change tracker first, so SaveChanges (and
    // everything it raises: SavingChanges, the metrics) sees them as added rows.
    public override int SaveChanges(bool acceptAllChangesOnSuccess)
    {
        TrackLoaded();
        TrackInserts();
        return base.SaveChanges(acceptAllChangesOnSuccess);
    }

    public override Task<int> SaveChangesAsync(bool acceptAllChangesOnSuccess, CancellationToken cancellationToken = default)
    {
        TrackLoaded();
        TrackInserts();
        return base.SaveChangesAsync(acceptAllChangesOnSuccess, cancellationToken);
    }

    private void TrackInserts()
    {
        if (inserts is null) return;
        var rows = inserts;
        DiscardInserts();
        AddRange(rows);
    }

    private Dictionary<(Type Type, string OrderId), object>? byOrder;
    private bool byOrderIncomplete;

    /// <summary>
    /// From now on keeps the first tracked row of each order per <see cref="IOrderRow"/> type, so a
    /// lookup in a preloaded batch is one dictionary probe instead of a scan of every tracked row
    /// (1.9 % of all CPU at full speed with ~200 rows per batch, docs/benchmarks.md). Called by
    /// the consumer before its preload.
    /// </summary>
    internal void IndexOrderRows()
    {
        if (byOrder is not null) return;
        byOrder = [];
        ChangeTracker.Tracked += OnTracked;
        ChangeTracker.StateChanged += OnStateChanged;
    }

    private void OnTracked(object? sender, EntityTrackedEventArgs e)
    {
        if (e.Entry.Entity is IOrderRow row) byOrder?.TryAdd((row.GetType(), row.OrderId), row);
    }

    private void OnStateChanged(object? sender, EntityStateChangedEventArgs e)
    {
        // Another tracked row of the same order and type may now be the first: the index no
        // longer knows, so lookups scan again (handlers do not delete rows; this is the safe side).
        if (e.NewState is EntityState.Deleted or EntityState.Detached && e.Entry.Entity is IOrderRow row && byOrder is not null
            && byOrder.TryGetValue((row.GetType(), row.OrderId), out var indexed) && ReferenceEquals(indexed, row))
            byOrderIncomplete = true;
    }

    /// <summary>
    /// Forgets everything of the unit of work that EF Core does not know about: pending inserts,
    /// after-commit actions, the preload and its index, the subscribers of <see cref="Saving"/>,
    /// <see cref="Saved"/> and <see cref="SaveFailed"/> (scoped services such as the stock lookup).
    /// The module contexts come from EF Core's context pool: disposing one hands it to the next
    /// scope, which must find it as a new context would be.
    /// </summary>
    private void ResetUnitOfWork()
    {
        afterCommit = null;
        preloaded = null;
        DiscardInserts();
        (loaded, loadedByOrder) = (null, null);
        Saving = null;
        Saved = null;
        SaveFailed = null;
        if (byOrder is null) return;
        ChangeTracker.Tracked -= OnTracked;
        ChangeTracker.StateChanged -= OnStateChanged;
        byOrder = null;
        byOrderIncomplete = false;
    }

    public override void Dispose()
    {
        ResetUnitOfWork();
        base.Dispose();
    }

    public override ValueTask DisposeAsync()
    {
        ResetUnitOfWork();
        return base.DisposeAsync();
    }

    private T? FindPreloaded<T>(string orderId, Func<T, bool> match) where T : class
    {
        if (byOrder is null || byOrderIncomplete || !typeof(T).IsAssignableTo(typeof(IOrderRow))) return FindTracked(match);
        if (!byOrder.TryGetValue((typeof(T), orderId), out var row)) return null;
        // A row of the order that the caller does not want (a narrower match): look at all of them.
        return row is T found && match(found) ? found : FindTracked(match);
    }

    /// <summary>
    /// A tracked row that matches, or null. <c>DbSet.Local</c> runs a full change detection on every
    /// access, which made a batch's lookups quadratic (docs/benchmarks.md); which rows are tracked
    /// does not depend on it (added rows are tracked when added), so it is skipped here.
    /// </summary>
    public T? FindTracked<T>(Func<T, bool> match) where T : class
    {
        var detect = ChangeTracker.AutoDetectChangesEnabled;
        ChangeTracker.AutoDetectChangesEnabled = false;
        try
        {
            return Set<T>().Local.FirstOrDefault(match);
        }
        finally
        {
            ChangeTracker.AutoDetectChangesEnabled = detect;
        }
    }

    public DbSet<InboxMessage> Inbox => Set<InboxMessage>();
    public DbSet<OutboxMessage> OutboxMessages => Set<OutboxMessage>();
    public DbSet<ModuleState> State => Set<ModuleState>();

    protected override void ConfigureConventions(ModelConfigurationBuilder configurationBuilder)
    {
        // The same text Microsoft.Data.Sqlite writes, read without DateTime.Parse (SqliteDateTimeText).
        if (Database.IsSqlite()) configurationBuilder.Properties<DateTime>().HaveConversion<SqliteDateTimeText.Converter>();
    }

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<InboxMessage>(inbox =>
        {
            inbox.ToTable($"{TablePrefix}_inbox");
            inbox.HasKey(m => m.EventId);
            inbox.Property(m => m.EventId).HasColumnName("event_id").HasMaxLength(64);
            inbox.Property(m => m.EventType).HasColumnName("event_type").HasMaxLength(64);
            inbox.Property(m => m.OrderId).HasColumnName("order_id").HasMaxLength(64);
            inbox.Property(m => m.Topic).HasColumnName("topic").HasMaxLength(128);
            inbox.Property(m => m.Partition).HasColumnName("partition");
            inbox.Property(m => m.Offset).HasColumnName("offset");
            inbox.Property(m => m.ProcessedAt).HasColumnName("processed_at");
            inbox.HasIndex(m => m.OrderId);
        });
        modelBuilder.Entity<OutboxMessage>(outbox =>
        {
            outbox.ToTable($"{TablePrefix}_outbox");
            outbox.HasKey(m => m.Id);
            outbox.Property(m => m.Id).HasColumnName("id").ValueGeneratedOnAdd();
            outbox.Property(m => m.EventId).HasColumnName("event_id").HasMaxLength(64);
            outbox.Property(m => m.EventType).HasColumnName("event_type").HasMaxLength(64);
            outbox.Property(m => m.EventVersion).HasColumnName("event_version");
            outbox.Property(m => m.Topic).HasColumnName("topic").HasMaxLength(128);
            outbox.Property(m => m.Key).HasColumnName("key").HasMaxLength(64);
            outbox.Property(m => m.Payload).HasColumnName("payload");
            outbox.Property(m => m.TraceParent).HasColumnName("traceparent").HasMaxLength(64);
            outbox.Property(m => m.CreatedAt).HasColumnName("created_at");
        });
        modelBuilder.Entity<ModuleState>(state =>
        {
            state.ToTable($"{TablePrefix}_state");
            state.HasKey(s => s.Id);
            state.Property(s => s.Id).HasColumnName("id").ValueGeneratedNever();
            state.Property(s => s.Version).HasColumnName("version");
            state.HasData(new ModuleState { Id = ModuleState.RowId, Version = 0 });
        });
        OnModuleModelCreating(modelBuilder);
    }

    protected abstract void OnModuleModelCreating(ModelBuilder modelBuilder);
}

/// <summary>A row that belongs to one order (<see cref="OrderId"/>), looked up per order by the handlers.</summary>
public interface IOrderRow
{
    string OrderId { get; }
}

internal static partial class AfterCommitLog
{
    [LoggerMessage(LogLevel.Error, "An action run after a commit of {Context} failed; the commit stands, and the other actions run")]
    public static partial void ActionFailed(ILogger logger, Exception ex, string context);
}
