using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;
using SQLitePCL;

namespace OrderFlow.Persistence;

/// <summary>
/// Hot path: the inbox and outbox rows, without EF Core's query and save pipelines. A batch's inbox
/// and outbox rows go in untracked, with one prepared INSERT per table re-executed per row and bound
/// by position (<see cref="StatementCache.Execute"/>), on the open transaction; the inbox check and
/// the relay's read are prepared statements too. These rows are only ever inserted, and tracking them cost a snapshot and a change-detection pass each (see
/// docs/benchmarks.md). Table and column names come from the EF model, so the migrations stay the
/// one schema.
/// </summary>
internal static class InboxOutboxWriter
{
    private static readonly ConcurrentDictionary<(Type Context, Type Entity), Statement> Statements = new();

    private static readonly string[] InboxColumns =
    [
        nameof(InboxMessage.EventId), nameof(InboxMessage.EventType), nameof(InboxMessage.OrderId), nameof(InboxMessage.Topic),
        nameof(InboxMessage.Partition), nameof(InboxMessage.Offset), nameof(InboxMessage.ProcessedAt),
    ];

    private static readonly string[] OutboxColumns =
    [
        nameof(OutboxMessage.EventId), nameof(OutboxMessage.EventType), nameof(OutboxMessage.EventVersion), nameof(OutboxMessage.Topic),
        nameof(OutboxMessage.Key), nameof(OutboxMessage.Payload), nameof(OutboxMessage.TraceParent), nameof(OutboxMessage.CreatedAt),
    ];

    private static readonly ConcurrentDictionary<Type, string> AppliedSql = new();

    /// <summary>The event ids of <paramref name="eventIds"/> already in the context's inbox: one indexed lookup each, bound by position.</summary>
    public static async Task<HashSet<string>> AppliedAsync(ModuleDbContext db, IEnumerable<string> eventIds, CancellationToken cancellationToken)
    {
        var sql = AppliedSql.GetOrAdd(db.GetType(), _ =>
        {
            var entity = db.Model.FindEntityType(typeof(InboxMessage))!;
            var table = StoreObjectIdentifier.Table(entity.GetTableName()!, entity.GetSchema());
            return $"SELECT 1 FROM \"{table.Name}\" WHERE \"{entity.FindProperty(nameof(InboxMessage.EventId))!.GetColumnName(table)}\" = @p0";
        });
        return await StatementCache.OnOpenConnectionAsync(db, statements =>
        {
            // Sized for the whole batch: the caller adds every event id it applies.
            var applied = new HashSet<string>(eventIds.TryGetNonEnumeratedCount(out var count) ? count : 0, StringComparer.Ordinal);
            var value = new object?[1];
            foreach (var eventId in eventIds)
            {
                value[0] = eventId;
                if (statements.Exists(sql, value)) applied.Add(eventId);
            }
            return applied;
        }, cancellationToken);
    }

    private static readonly ConcurrentDictionary<Type, (string Rows, string Count)> PendingSql = new();

    private static readonly string[] PendingColumns =
    [
        nameof(OutboxMessage.Id), nameof(OutboxMessage.Topic), nameof(OutboxMessage.Key), nameof(OutboxMessage.Payload),
        nameof(OutboxMessage.EventType), nameof(OutboxMessage.EventVersion), nameof(OutboxMessage.EventId), nameof(OutboxMessage.TraceParent),
    ];

    /// <summary>
    /// The outbox rows after id <paramref name="after"/>, in id order, at most <paramref name="limit"/>
    /// (the relay's read); and how many there are in all when the limit is reached, else the rows'
    /// count. Prepared statements rather than EF Core's query pipeline and materializer; text
    /// columns are read as their UTF-8 bytes, the form the producer sends.
    /// </summary>
    public static async Task<(List<PendingOutboxRow> Rows, long Pending)> PendingAsync(ModuleDbContext db, long after, int limit, CancellationToken cancellationToken)
    {
        var sql = PendingSql.GetOrAdd(db.GetType(), _ =>
        {
            var entity = db.Model.FindEntityType(typeof(OutboxMessage))!;
            var table = StoreObjectIdentifier.Table(entity.GetTableName()!, entity.GetSchema());
            string Column(string property) => $"\"{entity.FindProperty(property)!.GetColumnName(table)}\"";
            var id = Column(nameof(OutboxMessage.Id));
            return ($"SELECT {string.Join(", ", PendingColumns.Select(Column))} FROM \"{table.Name}\" WHERE {id} > @p0 ORDER BY {id} LIMIT @p1",
                $"SELECT count(*) FROM \"{table.Name}\" WHERE {id} > @p0");
        });
        return await StatementCache.OnOpenConnectionAsync(db, statements =>
        {
            // A relay's rows go to one or two topics: the previous row's name is reused when the bytes match.
            var topic = (Bytes: Array.Empty<byte>(), Name: "");
            // Columns in PendingColumns order.
            var rows = statements.Query(sql.Rows, [after, limit], row =>
            {
                var topicBytes = raw.sqlite3_column_blob(row, 1);
                if (!topicBytes.SequenceEqual(topic.Bytes)) topic = (topicBytes.ToArray(), System.Text.Encoding.UTF8.GetString(topicBytes));
                return new PendingOutboxRow
                {
                    Id = raw.sqlite3_column_int64(row, 0),
                    Topic = topic.Name,
                    Key = StatementCache.Blob(row, 2)!,
                    Payload = StatementCache.Blob(row, 3)!,
                    EventType = EventTypeNames.Shared.Intern(raw.sqlite3_column_blob(row, 4)),
                    EventVersion = raw.sqlite3_column_int(row, 5),
                    EventId = StatementCache.Blob(row, 6)!,
                    TraceParent = StatementCache.Blob(row, 7),
                };
            });
            var pending = rows.Count < limit ? rows.Count : statements.Query(sql.Count, [after], row => raw.sqlite3_column_int64(row, 0))[0];
            return (rows, pending);
        }, cancellationToken);
    }

    /// <summary>
    /// One byte array per event type name the relay reads: a module publishes a handful of types,
    /// so the relay's rows share them (and <see cref="Messaging.OutboxRelay{TContext}"/> one header
    /// per array) instead of a copy per row. Bounded: past its capacity, a name gets a copy.
    /// </summary>
    internal sealed class EventTypeNames(int capacity)
    {
        public static readonly EventTypeNames Shared = new(64);

        private byte[][] known = [];
        private readonly Lock adding = new();

        public byte[] Intern(ReadOnlySpan<byte> name)
        {
            foreach (var bytes in Volatile.Read(ref known))
                if (name.SequenceEqual(bytes)) return bytes;
            lock (adding)
            {
                foreach (var bytes in known)
                    if (name.SequenceEqual(bytes)) return bytes;
                var copy = name.ToArray();
                if (known.Length < capacity) Volatile.Write(ref known, [.. known, copy]);
                return copy;
            }
        }
    }

    /// <summary>Writes the rows at once (<see cref="Prepare"/>, then <see cref="PreparedInserts.Execute"/>).</summary>
    public static void Insert(StatementCache statements, IReadOnlyList<InboxMessage> inbox, IReadOnlyList<OutboxMessage> outbox) =>
        Prepare(statements.Context, inbox, outbox).Execute(statements);

    /// <summary>
    /// The rows' parameter values, converted as the model says (dates: SqliteDateTimeText on
    /// SQLite, as EF Core writes them). Needs no database, so it runs before the write turn.
    /// </summary>
    public static PreparedInserts Prepare(ModuleDbContext db, IReadOnlyList<InboxMessage> inbox, IReadOnlyList<OutboxMessage> outbox) => new(
        Prepare(db, inbox, InboxColumns, static row =>
        [
            row.EventId, row.EventType, row.OrderId, row.Topic, row.Partition, row.Offset, row.ProcessedAt,
        ]),
        // Rows go in list order, so ids (the relay's send order) follow the order of the events.
        Prepare(db, outbox, OutboxColumns, static row =>
        [
            row.EventId, row.EventType, row.EventVersion, row.Topic, row.Key, row.Payload, (object?)row.TraceParent ?? DBNull.Value, row.CreatedAt,
        ]),
        outbox.Select(static row => ForRelay(row)).ToArray());

    /// <summary>An outbox row as the relay would read it back (<see cref="PendingAsync"/>); its id is 0 until it is inserted.</summary>
    internal static PendingOutboxRow ForRelay(OutboxMessage row) => ForRelay(row, 0);

    internal static PendingOutboxRow ForRelay(OutboxMessage row, long id)
    {
        Span<byte> typeName = stackalloc byte[256];
        return new PendingOutboxRow
        {
            Id = id,
            Topic = row.Topic,
            Key = System.Text.Encoding.UTF8.GetBytes(row.Key),
            // The same array the INSERT bound: nothing writes to a serialized payload afterwards.
            Payload = row.Payload,
            EventType = System.Text.Encoding.UTF8.TryGetBytes(row.EventType, typeName, out var written)
                ? EventTypeNames.Shared.Intern(typeName[..written])
                : System.Text.Encoding.UTF8.GetBytes(row.EventType),
            EventVersion = row.EventVersion,
            EventId = System.Text.Encoding.UTF8.GetBytes(row.EventId),
            TraceParent = row.TraceParent is null ? null : System.Text.Encoding.UTF8.GetBytes(row.TraceParent),
        };
    }

    private static (Statement Statement, object?[][] Rows)? Prepare<T>(ModuleDbContext db, IReadOnlyList<T> rows, string[] properties, Func<T, object?[]> values)
    {
        if (rows.Count == 0) return null;
        var statement = Statements.GetOrAdd((db.GetType(), typeof(T)), key => Statement.Of(db.Model.FindEntityType(key.Entity)!, properties));
        var prepared = new object?[rows.Count][];
        for (var r = 0; r < rows.Count; r++)
        {
            var row = prepared[r] = values(rows[r]);
            foreach (var (column, converter) in statement.Converters)
                if (row[column] is { } value and not DBNull) row[column] = converter.ConvertToProvider(value);
        }
        return (statement, prepared);
    }

    /// <summary>
    /// A batch's inbox and outbox rows, ready to insert; and the outbox rows as the relay sends them,
    /// which take their ids as they are inserted, so that the writer can hand them to the relay
    /// once the transaction commits (<see cref="Messaging.OutboxSignal{TContext}.Committed"/>)
    /// instead of the relay reading them back.
    /// </summary>
    internal sealed class PreparedInserts(
        (Statement Statement, object?[][] Rows)? inbox, (Statement Statement, object?[][] Rows)? outbox, PendingOutboxRow[] forRelay)
    {
        /// <summary>The outbox rows in id order; their ids are set by <see cref="Execute"/>, and are only theirs once the transaction commits.</summary>
        public IReadOnlyList<PendingOutboxRow> OutboxRows => forRelay;

        /// <summary>Inserts the rows on the open transaction of <paramref name="statements"/>.</summary>
        public void Execute(StatementCache statements)
        {
            if (inbox is { } i)
                foreach (var row in i.Rows) statements.Execute(i.Statement.Sql, row);
            if (outbox is not { } o) return;
            for (var r = 0; r < o.Rows.Length; r++)
            {
                statements.Execute(o.Statement.Sql, o.Rows[r]);
                forRelay[r].Id = statements.LastInsertRowId;
            }
        }
    }

    /// <summary>The INSERT of an entity's columns, and the model's value converters by column position.</summary>
    internal sealed record Statement(string Sql, (int Column, ValueConverter Converter)[] Converters)
    {
        public static Statement Of(IEntityType entity, string[] properties)
        {
            var table = StoreObjectIdentifier.Table(entity.GetTableName()!, entity.GetSchema());
            var columns = properties.Select(p => entity.FindProperty(p)!).ToList();
            var converters = new List<(int, ValueConverter)>();
            for (var i = 0; i < columns.Count; i++)
                if (columns[i].GetValueConverter() is { } converter) converters.Add((i, converter));
            return new Statement(StatementCache.InsertSql(table.Name, columns.Select(p => p.GetColumnName(table)!).ToList()), converters.ToArray());
        }
    }
}
