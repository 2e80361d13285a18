using System.Collections.Concurrent;
using System.Data.Common;
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
/// The same rules as EF Core's: columns, value converters and parameter types come from the model
/// (<see cref="RelationalTypeMapping.CreateParameter"/>); an update sets the modified columns and
/// checks every concurrency token against its original value, and a row that does not match fails
/// the save with <see cref="DbUpdateConcurrencyException"/>; owners are inserted before the rows
/// they own. <see cref="ModuleDbContext.Saving"/>, <see cref="ModuleDbContext.Saved"/> and
/// <see cref="ModuleDbContext.SaveFailed"/> are raised as for <c>SaveChanges</c>.
/// </para>
/// <para>
/// Anything else — a deleted row, an entity mapped to JSON or sharing a table, a relationship that is
/// not ownership, a store default or computed column, a generated key that is not one integer
/// column — is left to EF Core: such a unit of work is saved with <c>SaveChangesAsync</c> whole.
/// Generated integer keys are assigned here, from the table's highest id and SQLite's
/// <c>sqlite_sequence</c> (the write transaction holds the file's only write lock).
/// </para>
/// </summary>
internal static class TrackedChangesWriter
{
    private static readonly ConcurrentDictionary<IEntityType, TableShape?> Shapes = new();

    public static async Task SaveAsync(StatementCache statements, CancellationToken cancellationToken)
    {
        var db = statements.Context;
        List<EntityEntry>? changed = null;
        foreach (var entry in db.ChangeTracker.Entries())
        {
            if (entry.State is EntityState.Unchanged or EntityState.Detached) continue;
            if (entry.State is EntityState.Deleted || ShapeOf(entry.Metadata) is null)
            {
                await db.SaveChangesAsync(cancellationToken);
                return;
            }
            (changed ??= []).Add(entry);
        }
        if (changed is null) return;

        db.OnSaving();
        try
        {
            var nextIds = new Dictionary<IEntityType, long>();
            // Owners before what they own: an owned row's foreign key points at its owner.
            foreach (var entry in changed.OrderBy(e => ShapeOf(e.Metadata)!.Depth))
            {
                var shape = ShapeOf(entry.Metadata)!;
                if (entry.State == EntityState.Added) Insert(statements, entry, shape, nextIds);
                else Update(statements, entry, shape);
            }
        }
        catch
        {
            db.OnSaveFailed();
            throw;
        }
        db.ChangeTracker.AcceptAllChanges();
        db.OnSaved();
    }

    private static void Insert(StatementCache statements, EntityEntry entry, TableShape shape, Dictionary<IEntityType, long> nextIds)
    {
        if (shape.GeneratedKey is { } key && entry.Property(key).IsTemporary)
        {
            if (!nextIds.TryGetValue(entry.Metadata, out var next)) next = HighestId(statements, shape) + 1;
            nextIds[entry.Metadata] = next + 1;
            var property = entry.Property(key);
            property.CurrentValue = Convert.ChangeType(next, key.ClrType, System.Globalization.CultureInfo.InvariantCulture);
            property.IsTemporary = false;
        }
        var command = statements.Get(shape.InsertSql);
        for (var i = 0; i < shape.Columns.Length; i++)
            command.Parameters.Add(Parameter(command, $"@p{i}", shape.Columns[i], entry.CurrentValues[shape.Columns[i]]));
        command.ExecuteNonQuery();
    }

    private static void Update(StatementCache statements, EntityEntry entry, TableShape shape)
    {
        var set = new List<IProperty>();
        foreach (var property in entry.Properties)
            if (property.IsModified && !property.Metadata.IsPrimaryKey()) set.Add(property.Metadata);
        if (set.Count == 0 && shape.Tokens.Length == 0) return;

        var sql = new StringBuilder("UPDATE ").Append(shape.Table).Append(" SET ");
        var values = new List<(string Name, IProperty Property, object? Value)>();
        if (set.Count == 0)
        {
            // Only tokens to check: touch the key so a missing row still shows as 0 rows.
            sql.Append(shape.ColumnOf(shape.Keys[0])).Append(" = ").Append(shape.ColumnOf(shape.Keys[0]));
        }
        for (var i = 0; i < set.Count; i++)
        {
            if (i > 0) sql.Append(", ");
            sql.Append(shape.ColumnOf(set[i])).Append(" = @s").Append(i);
            values.Add(($"@s{i}", set[i], entry.CurrentValues[set[i]]));
        }
        sql.Append(" WHERE ");
        for (var i = 0; i < shape.Keys.Length; i++)
        {
            if (i > 0) sql.Append(" AND ");
            sql.Append(shape.ColumnOf(shape.Keys[i])).Append(" = @k").Append(i);
            values.Add(($"@k{i}", shape.Keys[i], entry.OriginalValues[shape.Keys[i]]));
        }
        for (var i = 0; i < shape.Tokens.Length; i++)
        {
            var original = entry.OriginalValues[shape.Tokens[i]];
            sql.Append(" AND ").Append(shape.ColumnOf(shape.Tokens[i]));
            if (original is null)
            {
                sql.Append(" IS NULL");
                continue;
            }
            sql.Append(" = @t").Append(i);
            values.Add(($"@t{i}", shape.Tokens[i], original));
        }

        var command = statements.Get(sql.ToString());
        foreach (var (name, property, value) in values) command.Parameters.Add(Parameter(command, name, property, value));
        if (command.ExecuteNonQuery() != 1)
            throw new DbUpdateConcurrencyException(
                $"{entry.Metadata.DisplayName()} {string.Join(", ", shape.Keys.Select(k => entry.OriginalValues[k]))} was changed or removed since it was read");
    }

    private static DbParameter Parameter(DbCommand command, string name, IProperty property, object? value) =>
        property.GetRelationalTypeMapping().CreateParameter(command, name, value, property.IsNullable);

    private static long HighestId(StatementCache statements, TableShape shape)
    {
        var command = statements.Get(shape.HighestIdSql);
        return Convert.ToInt64(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    private static TableShape? ShapeOf(IEntityType entityType) => Shapes.GetOrAdd(entityType, TableShape.Of);

    /// <summary>What the writer needs of an entity type, or null when EF Core must save it.</summary>
    private sealed class TableShape
    {
        public required string Table { get; init; }
        public required StoreObjectIdentifier Store { get; init; }
        public required IProperty[] Columns { get; init; }
        public required IProperty[] Keys { get; init; }
        public required IProperty[] Tokens { get; init; }
        public IProperty? GeneratedKey { get; init; }
        public required int Depth { get; init; }
        public required string InsertSql { get; init; }
        public required string HighestIdSql { get; init; }

        public string ColumnOf(IProperty property) => $"\"{property.GetColumnName(Store)}\"";

        public static TableShape? Of(IEntityType type)
        {
            var tableName = type.GetTableName();
            if (tableName is null || type.IsMappedToJson() || type.BaseType is not null || type.GetDirectlyDerivedTypes().Any()) return null;
            if (type.GetForeignKeys().Any(fk => !fk.IsOwnership)) return null;
            if (type.Model.GetEntityTypes().Count(t => t.GetTableName() == tableName && t.GetSchema() == type.GetSchema()) != 1) return null;

            var store = StoreObjectIdentifier.Table(tableName, type.GetSchema());
            var columns = type.GetProperties().Where(p => p.GetColumnName(store) is not null).ToArray();
            if (columns.Any(p => p.GetDefaultValueSql(store) is not null || p.GetComputedColumnSql(store) is not null || p.TryGetDefaultValue(store, out _)))
                return null;
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
            }

            var depth = 0;
            for (var owner = type; owner.IsOwned(); owner = owner.FindOwnership()!.PrincipalEntityType) depth++;
            // AUTOINCREMENT never reuses an id, even a deleted one: sqlite_sequence remembers the highest.
            var highestIdSql = generatedKey is null ? "" :
                $"SELECT max(coalesce((SELECT max(\"{generatedKey.GetColumnName(store)}\") FROM \"{tableName}\"), 0), " +
                $"coalesce((SELECT seq FROM sqlite_sequence WHERE name = '{tableName}'), 0))";
            return new TableShape
            {
                Table = $"\"{tableName}\"",
                Store = store,
                Columns = columns,
                Keys = keys,
                Tokens = columns.Where(p => p.IsConcurrencyToken).ToArray(),
                GeneratedKey = generatedKey,
                Depth = depth,
                InsertSql = new StringBuilder("INSERT INTO \"").Append(tableName).Append("\" (")
                    .AppendJoin(", ", columns.Select(p => $"\"{p.GetColumnName(store)}\""))
                    .Append(") VALUES (").AppendJoin(", ", columns.Select((_, i) => $"@p{i}")).Append(')').ToString(),
                HighestIdSql = highestIdSql,
            };
        }
    }
}
