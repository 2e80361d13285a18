using System.Collections.Concurrent;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.ChangeTracking;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.EntityFrameworkCore.Storage;

namespace OrderFlow.Persistence;

/// <summary>
/// <c>SaveChanges</c> for the consumers' batches: writes the change tracker's added and modified
/// rows with prepared single-row statements (<see cref="StatementCache"/>), then accepts the changes
/// as EF Core would. EF Core's SQLite provider sends each row as a new command, parsed and prepared
/// every time, and that was the largest cost inside the write gate (docs/benchmarks.md).
/// <para>
/// The same rules as EF Core's: columns and value converters come from the model (each column's
/// <see cref="RelationalTypeMapping.Converter"/>; the values are bound by position,
/// <see cref="StatementCache.Execute"/>); an update sets the columns whose value
/// differs from the original one (by the property's value comparer, as change detection compares)
/// and checks every concurrency token against its original value, and a row that does not match fails
/// the save with <see cref="DbUpdateConcurrencyException"/>; owners are inserted before the rows
/// they own. <see cref="ModuleDbContext.Saving"/>, <see cref="ModuleDbContext.Saved"/> and
/// <see cref="ModuleDbContext.SaveFailed"/> are raised as for <c>SaveChanges</c>.
/// </para>
/// <para>
/// Rows a unit of work only inserts (<see cref="ModuleDbContext.Insert{T}"/>: orders placed in bulk,
/// payment requests and ledger entries, notifications, reservations with their lines) are not
/// tracked at all: their values are read from the objects through the model's getters and
/// converters, with the same INSERT a tracked row gets; the rows they own in tables of their own
/// follow them, with their owner's key and, where the key is generated, the next id. An untracked
/// row with a generated key, or with navigations other than such owned collections, sends the
/// unit of work to EF Core.
/// </para>
/// <para>
/// Rows a consumer read untracked (<see cref="ModuleDbContext.AddLoaded"/>: the Orders and Payment
/// batches' preloads) are compared with the snapshot of the values they were read with, by the
/// columns' value comparers, and updated like a tracked row: the columns that changed, the key and
/// every concurrency token as read. EF Core's <c>SaveChanges</c> tracks them first, with those
/// values as their original ones.
/// </para>
/// <para>
/// Anything else — a deleted row, an entity mapped to JSON or sharing a table, a relationship that is
/// not ownership, a store default or computed column, a column whose stored type the writer does
/// not bind (<see cref="StatementCache.CanBind"/>), a generated key that is not one integer
/// column or that other rows point at — is left to EF Core: such a unit of work is saved with
/// <c>SaveChangesAsync</c> whole. Generated integer keys are assigned when the rows are written,
/// from the table's highest id and SQLite's <c>sqlite_sequence</c> (the write transaction holds
/// the file's only write lock).
/// </para>
/// <para>
/// A save has two halves: <see cref="Prepare"/> needs no database (change detection, the
/// statements, the parameters with their converted values) and can run before the write turn;
/// <see cref="PreparedSave.ExecuteAsync"/> binds and executes inside it.
/// </para>
/// </summary>
internal static class TrackedChangesWriter
{
    private static readonly ConcurrentDictionary<IEntityType, TableShape?> Shapes = new();

    /// <summary>
    /// <c>SaveChanges</c> in one go: <see cref="Prepare"/>, <see cref="PreparedSave.ExecuteAsync"/>
    /// and <see cref="PreparedSave.AcceptChanges"/>, for a context that is used after the save.
    /// </summary>
    public static async Task SaveAsync(StatementCache statements, CancellationToken cancellationToken)
    {
        var save = Prepare(statements.Context);
        await save.ExecuteAsync(statements, cancellationToken);
        save.AcceptChanges();
    }

    /// <summary>
    /// Everything of a save that needs no database: one change detection, the rows to write, their
    /// statements and parameters (values converted as the model says). It can run before the write
    /// turn when nothing changes the tracked rows until <see cref="PreparedSave.ExecuteAsync"/>:
    /// the consumers prepare outside the turn and execute inside it, after checking that the
    /// module's version has not moved (docs/benchmarks.md). Raises <see cref="ModuleDbContext.Saving"/>
    /// unless EF Core's <c>SaveChanges</c> will (then it raises it itself).
    /// </summary>
    public static PreparedSave Prepare(ModuleDbContext db)
    {
        var tracker = db.ChangeTracker;
        // One change detection for the whole save: Entries(), the Saving handlers and
        // AcceptAllChanges would each run their own over every tracked row.
        tracker.DetectChanges();
        var detect = tracker.AutoDetectChangesEnabled;
        tracker.AutoDetectChangesEnabled = false;
        try
        {
            List<EntityEntry>? changed = null;
            foreach (var entry in tracker.Entries())
            {
                if (entry.State is EntityState.Unchanged or EntityState.Detached) continue;
                if (entry.State is EntityState.Deleted || ShapeOf(entry.Metadata) is null) return new PreparedSave(db, null);
                (changed ??= []).Add(entry);
            }
            var inserts = db.PendingInserts;
            UntrackedShape[]? insertShapes = null;
            for (var i = 0; i < inserts.Count; i++)
            {
                if (UntrackedShapeOf(db, inserts[i].GetType()) is not { } shape) return new PreparedSave(db, null);
                (insertShapes ??= new UntrackedShape[inserts.Count])[i] = shape;
            }
            // Rows read untracked (ModuleDbContext.AddLoaded): compared with the values they were read with.
            var loaded = db.Loaded;
            List<(ModuleDbContext.LoadedRow Row, TableShape Shape)>? loadedChanged = null;
            foreach (var row in loaded)
            {
                var shape = LoadedShapeOf(db, row.Row.GetType())!;
                if (HasChanges(row, shape)) (loadedChanged ??= []).Add((row, shape));
            }
            if (changed is null && insertShapes is null && loadedChanged is null) return new PreparedSave(db, []);

            db.OnSaving();
            var rows = new List<PreparedRow>((changed?.Count ?? 0) + inserts.Count + (loadedChanged?.Count ?? 0));
            // An untracked row is owned by nothing and points at nothing but its owned rows, which
            // follow it (UntrackedShapeOf): any place in the order will do.
            for (var i = 0; i < inserts.Count; i++) PrepareInsert(inserts[i], insertShapes![i], rows);
            // A row read untracked owns nothing and points at nothing (LoadedShapeOf) either.
            if (loadedChanged is not null)
                foreach (var (row, shape) in loadedChanged)
                    if (PrepareUpdate(row, shape) is { } update) rows.Add(update);
            if (changed is null) return new PreparedSave(db, rows);
            // Owners before what they own: an owned row's foreign key points at its owner.
            foreach (var entry in changed.OrderBy(e => ShapeOf(e.Metadata)!.Depth))
            {
                var shape = ShapeOf(entry.Metadata)!;
                if (entry.State == EntityState.Added) rows.Add(PrepareInsert(entry, shape));
                else if (PrepareUpdate(entry, shape) is { } update) rows.Add(update);
            }
            return new PreparedSave(db, rows);
        }
        finally
        {
            tracker.AutoDetectChangesEnabled = detect;
        }
    }

    /// <summary>
    /// A row added by <see cref="ModuleDbContext.Insert{T}"/>, then the rows it owns: values read from
    /// the objects through the model's getters and converters; an owned row's foreign key is its
    /// owner's key, its generated key is assigned when it is written.
    /// </summary>
    private static void PrepareInsert(object row, UntrackedShape shape, List<PreparedRow> rows)
    {
        var table = shape.Table;
        var values = new object?[table.Columns.Length];
        for (var i = 0; i < table.Columns.Length; i++) values[i] = table.ToProvider(i, table.Getters[i].GetClrValueUsingContainingEntity(row));
        rows.Add(new PreparedRow(null, table, table.InsertSql, values, IsUpdate: false, GeneratesKey: false));

        foreach (var owned in shape.Owned)
        {
            if (owned.Navigation.GetGetter().GetClrValueUsingContainingEntity(row) is not System.Collections.IEnumerable elements) continue;
            var columns = owned.Table.Columns;
            foreach (var element in elements)
            {
                var ownedValues = new object?[columns.Length];
                for (var i = 0; i < columns.Length; i++)
                {
                    var source = owned.Sources[i];
                    // The generated key (-1) is left for the write turn (AssignKey).
                    if (source >= 0) ownedValues[i] = values[source];
                    else if (source == OwnedCollection.FromElement) ownedValues[i] = owned.Table.ToProvider(i, columns[i].GetGetter().GetClrValueUsingContainingEntity(element!));
                }
                rows.Add(new PreparedRow(null, owned.Table, owned.Table.InsertSql, ownedValues, IsUpdate: false, GeneratesKey: owned.Table.GeneratedKey is not null));
            }
        }
    }

    // By model, not by context type: a context type's model differs between option sets (the tests
    // build several), and a shape's properties belong to one model.
    private static readonly ConcurrentDictionary<(IModel Model, Type Row), UntrackedShape?> UntrackedShapes = new();

    /// <summary>How a row inserted untracked is written: its table, and the collections of rows it owns in tables of their own.</summary>
    private sealed record UntrackedShape(TableShape Table, OwnedCollection[] Owned);

    /// <summary>
    /// Rows owned through <see cref="Navigation"/>. <see cref="Sources"/> says per column where the
    /// value comes from: an index into the owner's values (the foreign key is the owner's key, with
    /// the same converter), <see cref="FromElement"/> (the owned object's getter) or
    /// <see cref="Generated"/> (the key the write turn assigns).
    /// </summary>
    private sealed record OwnedCollection(INavigation Navigation, TableShape Table, int[] Sources)
    {
        public const int FromElement = -2;
        public const int Generated = -1;
    }

    /// <summary>
    /// The shape of a row inserted untracked, or null (then EF Core saves the unit of work): a table
    /// of its own whose key is not generated, and no navigations but collections of owned rows in
    /// tables of their own that own nothing themselves (a reservation's lines). An owned row's key may
    /// be generated: nothing points at it.
    /// </summary>
    private static UntrackedShape? UntrackedShapeOf(ModuleDbContext db, Type row) => UntrackedShapeOf(db.Model, row);

    private static UntrackedShape? UntrackedShapeOf(IModel model, Type row) => UntrackedShapes.GetOrAdd((model, row), static key =>
    {
        var type = key.Model.FindEntityType(key.Row);
        if (type is null || type.IsOwned() || type.GetSkipNavigations().Any()) return null;
        if (ShapeOf(type) is not { GeneratedKey: null } shape) return null;
        var owned = new List<OwnedCollection>();
        foreach (var navigation in type.GetNavigations())
        {
            var ownership = navigation.ForeignKey;
            if (!ownership.IsOwnership || navigation.IsOnDependent || !navigation.IsCollection || navigation.IsShadowProperty()) return null;
            var target = navigation.TargetEntityType;
            if (target.GetNavigations().Any() || target.GetSkipNavigations().Any() || ShapeOf(target) is not { } table) return null;
            var sources = new int[table.Columns.Length];
            for (var i = 0; i < table.Columns.Length; i++)
            {
                var column = table.Columns[i];
                var foreignKey = Array.IndexOf(ownership.Properties.ToArray(), column);
                if (foreignKey >= 0)
                {
                    var principal = Array.IndexOf(shape.Columns, ownership.PrincipalKey.Properties[foreignKey]);
                    // The owner's stored value is reused as is: both columns must store it alike.
                    if (principal < 0 || shape.Mappings[principal].Converter?.GetType() != table.Mappings[i].Converter?.GetType()) return null;
                    sources[i] = principal;
                }
                else if (column == table.GeneratedKey) sources[i] = OwnedCollection.Generated;
                else if (column.IsShadowProperty()) return null;
                else sources[i] = OwnedCollection.FromElement;
            }
            owned.Add(new OwnedCollection(navigation, table, sources));
        }
        return new UntrackedShape(shape, owned.ToArray());
    });

    private static PreparedRow PrepareInsert(EntityEntry entry, TableShape shape)
    {
        var current = entry.CurrentValues;
        var values = new object?[shape.Columns.Length];
        for (var i = 0; i < shape.Columns.Length; i++) values[i] = shape.ToProvider(i, current[shape.Columns[i]]);
        var generated = shape.GeneratedKey is { } key && entry.Property(key).IsTemporary;
        return new PreparedRow(entry, shape, shape.InsertSql, values, IsUpdate: false, generated);
    }

    /// <summary>
    /// Sets the columns whose value differs from the original one (compared as EF Core's change
    /// detection compares them), where the key and every concurrency token still hold their
    /// original values. Null when there is nothing to write.
    /// </summary>
    private static PreparedRow? PrepareUpdate(EntityEntry entry, TableShape shape)
    {
        var currentValues = entry.CurrentValues;
        var originalValues = entry.OriginalValues;
        var current = new object?[shape.Columns.Length];
        var original = new object?[shape.Columns.Length];
        var set = 0UL;
        for (var i = 0; i < shape.Columns.Length; i++)
        {
            var column = shape.Columns[i];
            (current[i], original[i]) = (currentValues[column], originalValues[column]);
            if (Differs(shape, i, current[i], original[i])) set |= 1UL << i;
        }
        if (set == 0 && shape.Tokens.Length == 0) return null;
        return Update(entry.Metadata.DisplayName(), shape, set, current, original);
    }

    /// <summary>
    /// The UPDATE of the <paramref name="set"/> columns to their <paramref name="current"/> values,
    /// where the key and every concurrency token hold their <paramref name="original"/> ones (a null
    /// token with IS NULL). The values in the order of the statement's parameters (UpdateSql): the
    /// SET columns, then per column its key and its token.
    /// </summary>
    private static PreparedRow Update(string rowName, TableShape shape, ulong set, object?[] current, object?[] original)
    {
        var nullTokens = 0UL;
        for (var i = 0; i < shape.Columns.Length; i++)
            if (shape.IsToken[i] && original[i] is null) nullTokens |= 1UL << i;
        var values = new List<object?>(shape.Columns.Length + shape.Keys.Length + shape.Tokens.Length);
        for (var i = 0; i < shape.Columns.Length; i++)
            if ((set & (1UL << i)) != 0) values.Add(shape.ToProvider(i, current[i]));
        for (var i = 0; i < shape.Columns.Length; i++)
        {
            if (shape.IsKey[i]) values.Add(shape.ToProvider(i, original[i]));
            if (shape.IsToken[i] && (nullTokens & (1UL << i)) == 0) values.Add(shape.ToProvider(i, original[i]));
        }
        return new PreparedRow(null, shape, shape.UpdateSql(set, nullTokens), values.ToArray(), IsUpdate: true, GeneratesKey: false, (rowName, original));
    }

    /// <summary>
    /// A row read untracked, ready for the writer (<see cref="ModuleDbContext.AddLoaded"/>): its
    /// values snapshotted by the columns' value comparers, as EF Core snapshots a tracked row's
    /// original values. Null when the writer cannot update such a row (<see cref="LoadedShapeOf"/>):
    /// then it is tracked by EF Core instead.
    /// </summary>
    internal static ModuleDbContext.LoadedRow? Snapshot(ModuleDbContext db, object row)
    {
        if (LoadedShapeOf(db, row.GetType()) is not { } shape) return null;
        var original = new object?[shape.Columns.Length];
        for (var i = 0; i < original.Length; i++) original[i] = shape.Comparers[i].Snapshot(shape.Getters[i].GetClrValueUsingContainingEntity(row));
        return new ModuleDbContext.LoadedRow(row, original, shape.Columns);
    }

    /// <summary>
    /// The shape of a row the writer updates from its snapshot (<see cref="Snapshot"/>): a table of
    /// its own, every column a property of the class, no navigations, no generated key.
    /// </summary>
    private static TableShape? LoadedShapeOf(ModuleDbContext db, Type row) => LoadedShapes.GetOrAdd((db.Model, row), static key =>
        UntrackedShapeOf(key.Model, key.Row) is { Owned.Length: 0 } untracked && !key.Model.FindEntityType(key.Row)!.GetNavigations().Any()
        && !untracked.Table.Columns.Any(c => c.IsShadowProperty()) ? untracked.Table : null);

    private static readonly ConcurrentDictionary<(IModel Model, Type Row), TableShape?> LoadedShapes = new();

    /// <summary>Whether a column other than the key differs from the snapshot's (by the column's value comparer); stops at the first.</summary>
    private static bool HasChanges(ModuleDbContext.LoadedRow row, TableShape shape)
    {
        for (var i = 0; i < shape.Columns.Length; i++)
            if (Differs(shape, i, shape.Getters[i].GetClrValueUsingContainingEntity(row.Row), row.Original[i])) return true;
        return false;
    }

    /// <summary>Whether column <paramref name="i"/>, not the key, holds another value than the snapshot's, by the column's value comparer.</summary>
    private static bool Differs(TableShape shape, int i, object? value, object? original) =>
        !shape.IsKey[i] && !shape.Comparers[i].Equals(value, original);

    /// <summary>
    /// <see cref="PrepareUpdate(EntityEntry, TableShape)"/> for a row read untracked: key and tokens
    /// from its snapshot. The values are read once, for the comparison and the statement: each read
    /// boxes a value-type column, and an order's row is updated three times.
    /// </summary>
    private static PreparedRow? PrepareUpdate(ModuleDbContext.LoadedRow row, TableShape shape)
    {
        var current = new object?[shape.Columns.Length];
        var set = 0UL;
        for (var i = 0; i < current.Length; i++)
        {
            var value = current[i] = shape.Getters[i].GetClrValueUsingContainingEntity(row.Row);
            if (Differs(shape, i, value, row.Original[i])) set |= 1UL << i;
        }
        return set == 0 ? null : Update(shape.Table, shape, set, current, row.Original);
    }

    /// <summary>
    /// One row's statement and its parameter values (provider values, in parameter order), built
    /// before the write turn. <see cref="Updated"/>: an update's row name and values as read, for
    /// the error of an update that matched no row (its key is picked out only then).
    /// </summary>
    internal sealed record PreparedRow(EntityEntry? Entry, TableShape Shape, string Sql, object?[] Values, bool IsUpdate, bool GeneratesKey,
        (string Name, object?[] Original)? Updated = null)
    {
        public string Describe() => Updated is var (name, original)
            ? $"{name} {string.Join(", ", original.Where((_, i) => Shape.IsKey[i]))}"
            : Shape.Table;
    }

    /// <summary>A save prepared by <see cref="Prepare"/>: the rows to write, or (null) a unit of work for EF Core's <c>SaveChanges</c>.</summary>
    internal sealed class PreparedSave
    {
        private readonly ModuleDbContext db;
        private readonly List<PreparedRow>? rows;
        private bool executed;

        internal PreparedSave(ModuleDbContext db, List<PreparedRow>? rows)
        {
            this.db = db;
            this.rows = rows;
        }

        /// <summary>
        /// Writes the rows on <paramref name="statements"/>' open transaction, in the write turn:
        /// generated integer keys are assigned here (they depend on what is in the table), an
        /// update that matches no row fails the save with <see cref="DbUpdateConcurrencyException"/>.
        /// Raises <see cref="ModuleDbContext.Saved"/>, or <see cref="ModuleDbContext.SaveFailed"/>.
        /// The tracked rows stay Added/Modified until <see cref="AcceptChanges"/>.
        /// </summary>
        public async Task ExecuteAsync(StatementCache statements, CancellationToken cancellationToken)
        {
            if (executed) throw new InvalidOperationException("a prepared save is executed once");
            executed = true;
            if (rows is null)
            {
                await db.SaveChangesAsync(cancellationToken);
                return;
            }
            if (rows.Count == 0) return;
            try
            {
                var nextIds = new Dictionary<TableShape, long>();
                foreach (var row in rows)
                {
                    if (row.GeneratesKey) AssignKey(statements, row, nextIds);
                    if (statements.Execute(row.Sql, row.Values) != 1 && row.IsUpdate)
                        throw new DbUpdateConcurrencyException($"{row.Describe()} was changed or removed since it was read");
                }
            }
            catch
            {
                db.OnSaveFailed();
                throw;
            }
            db.OnSaved();
        }

        /// <summary>Marks the written rows Unchanged, as <c>SaveChanges</c> does; not needed when the context is dropped after the commit.</summary>
        public void AcceptChanges()
        {
            if (rows is not { Count: > 0 }) return;
            db.DiscardInserts();
            db.AcceptLoaded();
            var tracker = db.ChangeTracker;
            var detect = tracker.AutoDetectChangesEnabled;
            tracker.AutoDetectChangesEnabled = false;
            try
            {
                tracker.AcceptAllChanges();
            }
            finally
            {
                tracker.AutoDetectChangesEnabled = detect;
            }
        }

        /// <summary>The next id of the row's table; a tracked row's entry gets it too (an untracked row's key is a shadow property nobody reads).</summary>
        private static void AssignKey(StatementCache statements, PreparedRow row, Dictionary<TableShape, long> nextIds)
        {
            var key = row.Shape.GeneratedKey!;
            if (!nextIds.TryGetValue(row.Shape, out var next)) next = HighestId(statements, row.Shape) + 1;
            nextIds[row.Shape] = next + 1;
            var id = Convert.ChangeType(next, key.ClrType, System.Globalization.CultureInfo.InvariantCulture);
            if (row.Entry is { } entry)
            {
                var property = entry.Property(key);
                property.CurrentValue = id;
                property.IsTemporary = false;
            }
            var column = Array.IndexOf(row.Shape.Columns, key);
            row.Values[column] = row.Shape.ToProvider(column, id);
        }
    }

    private static long HighestId(StatementCache statements, TableShape shape)
    {
        var command = statements.Get(shape.HighestIdSql);
        return Convert.ToInt64(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    private static TableShape? ShapeOf(IEntityType entityType) => Shapes.GetOrAdd(entityType, TableShape.Of);

    /// <summary>Parameter names by column position, built once.</summary>
    private static class ParameterNames
    {
        private static readonly string[] Sets = Enumerable.Range(0, 64).Select(i => $"@s{i}").ToArray();
        private static readonly string[] Keys = Enumerable.Range(0, 64).Select(i => $"@k{i}").ToArray();
        private static readonly string[] Tokens = Enumerable.Range(0, 64).Select(i => $"@t{i}").ToArray();

        public static string Set(int i) => Sets[i];
        public static string Key(int i) => Keys[i];
        public static string Token(int i) => Tokens[i];
    }

    /// <summary>What the writer needs of an entity type, or null when EF Core must save it.</summary>
    internal sealed class TableShape
    {
        private readonly ConcurrentDictionary<(ulong Set, ulong NullTokens), string> updates = new();

        public required string Table { get; init; }
        public required IProperty[] Columns { get; init; }

        /// <summary>
        /// The columns' getters (<see cref="IProperty.GetGetter"/>), for rows read or inserted
        /// untracked. Not for an owned table: its key and foreign key are shadow properties, which
        /// have no getter (their values come from the owner and the write turn).
        /// </summary>
        public IClrPropertyGetter[] Getters => getters ??= Columns.Select(c => c.GetGetter()).ToArray();
        private IClrPropertyGetter[]? getters;
        public required string[] ColumnNames { get; init; }
        public required RelationalTypeMapping[] Mappings { get; init; }
        public required ValueComparer[] Comparers { get; init; }
        public required bool[] IsKey { get; init; }
        public required bool[] IsToken { get; init; }
        public required IProperty[] Keys { get; init; }
        public required IProperty[] Tokens { get; init; }
        public IProperty? GeneratedKey { get; init; }
        public required int Depth { get; init; }
        public required string InsertSql { get; init; }
        public required string HighestIdSql { get; init; }

        /// <summary>The value as the column's value converter stores it (as <see cref="RelationalTypeMapping.CreateParameter"/> converts it).</summary>
        public object? ToProvider(int column, object? value) =>
            value is not null && Mappings[column].Converter is { } converter ? converter.ConvertToProvider(value) : value;

        /// <summary>UPDATE … SET the <paramref name="set"/> columns WHERE key and tokens match (a null token with IS NULL).</summary>
        public string UpdateSql(ulong set, ulong nullTokens) => updates.GetOrAdd((set, nullTokens), key =>
        {
            var sql = new StringBuilder("UPDATE ").Append(Table).Append(" SET ");
            var first = true;
            for (var i = 0; i < Columns.Length; i++)
            {
                if ((key.Set & (1UL << i)) == 0) continue;
                if (!first) sql.Append(", ");
                sql.Append(ColumnNames[i]).Append(" = ").Append(ParameterNames.Set(i));
                first = false;
            }
            // Only tokens to check: touch the key so the row still counts as updated.
            if (first) sql.Append(ColumnNames[Array.IndexOf(IsKey, true)]).Append(" = ").Append(ColumnNames[Array.IndexOf(IsKey, true)]);
            sql.Append(" WHERE ");
            first = true;
            for (var i = 0; i < Columns.Length; i++)
            {
                if (!IsKey[i] && !IsToken[i]) continue;
                if (IsKey[i])
                {
                    if (!first) sql.Append(" AND ");
                    sql.Append(ColumnNames[i]).Append(" = ").Append(ParameterNames.Key(i));
                    first = false;
                }
                if (!IsToken[i]) continue;
                if (!first) sql.Append(" AND ");
                sql.Append(ColumnNames[i]).Append((key.NullTokens & (1UL << i)) != 0 ? " IS NULL" : " = " + ParameterNames.Token(i));
                first = false;
            }
            return sql.ToString();
        });

        public static TableShape? Of(IEntityType type)
        {
            var tableName = type.GetTableName();
            if (tableName is null || type.IsMappedToJson() || type.BaseType is not null || type.GetDirectlyDerivedTypes().Any()) return null;
            if (type.GetForeignKeys().Any(fk => !fk.IsOwnership)) return null;
            if (type.Model.GetEntityTypes().Count(t => t.GetTableName() == tableName && t.GetSchema() == type.GetSchema()) != 1) return null;

            var store = StoreObjectIdentifier.Table(tableName, type.GetSchema());
            var columns = type.GetProperties().Where(p => p.GetColumnName(store) is not null).ToArray();
            if (columns.Length > 64) return null;
            if (columns.Any(p => p.GetDefaultValueSql(store) is not null || p.GetComputedColumnSql(store) is not null || p.TryGetDefaultValue(store, out _)))
                return null;
            if (columns.Any(p => !StatementCache.CanBind(p.GetRelationalTypeMapping().Converter?.ProviderClrType ?? p.ClrType))) return null;
            var keys = type.FindPrimaryKey()?.Properties.ToArray() ?? [];
            if (keys.Length == 0) return null;
            var generated = columns.Where(p => p.ValueGenerated != ValueGenerated.Never).ToArray();
            IProperty? generatedKey = null;
            if (generated.Length > 0)
            {
                if (generated.Length > 1 || keys.Length != 1 || generated[0] != keys[0] || generated[0].ValueGenerated != ValueGenerated.OnAdd
                    || generated[0].ClrType != typeof(int) && generated[0].ClrType != typeof(long))
                    return null;
                generatedKey = generated[0];
                // Its keys are assigned in the write turn, after the rows that would point at them were prepared.
                if (type.GetReferencingForeignKeys().Any()) return null;
            }

            var depth = 0;
            for (var owner = type; owner.IsOwned(); owner = owner.FindOwnership()!.PrincipalEntityType) depth++;
            var columnNames = columns.Select(p => p.GetColumnName(store)!).ToArray();
            // AUTOINCREMENT never reuses an id, even a deleted one: sqlite_sequence remembers the highest.
            var highestIdSql = generatedKey is null ? "" :
                $"SELECT max(coalesce((SELECT max(\"{generatedKey.GetColumnName(store)}\") FROM \"{tableName}\"), 0), " +
                $"coalesce((SELECT seq FROM sqlite_sequence WHERE name = '{tableName}'), 0))";
            return new TableShape
            {
                Table = $"\"{tableName}\"",
                Columns = columns,
                ColumnNames = columnNames.Select(c => $"\"{c}\"").ToArray(),
                Mappings = columns.Select(p => p.GetRelationalTypeMapping()).ToArray(),
                Comparers = columns.Select(p => p.GetValueComparer()).ToArray(),
                IsKey = columns.Select(p => keys.Contains(p)).ToArray(),
                IsToken = columns.Select(p => p.IsConcurrencyToken).ToArray(),
                Keys = keys,
                Tokens = columns.Where(p => p.IsConcurrencyToken).ToArray(),
                GeneratedKey = generatedKey,
                Depth = depth,
                InsertSql = StatementCache.InsertSql(tableName, columnNames),
                HighestIdSql = highestIdSql,
            };
        }
    }
}
