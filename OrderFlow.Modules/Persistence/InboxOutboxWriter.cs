using System.Collections.Concurrent;
using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;

namespace OrderFlow.Persistence;

/// <summary>
/// Hot path: writes a batch's inbox and outbox rows untracked, with one prepared INSERT per table
/// re-executed per row (<see cref="StatementCache"/>), on the open transaction. These rows are only
/// ever inserted, and tracking them cost a snapshot and a change-detection pass each (see
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

    public static void Insert(StatementCache statements, IReadOnlyList<InboxMessage> inbox, IReadOnlyList<OutboxMessage> outbox)
    {
        Insert(statements, inbox, InboxColumns, static (row, p) =>
        {
            p[0].Value = row.EventId;
            p[1].Value = row.EventType;
            p[2].Value = row.OrderId;
            p[3].Value = row.Topic;
            p[4].Value = row.Partition;
            p[5].Value = row.Offset;
            p[6].Value = row.ProcessedAt;
        });
        // Rows go in list order, so ids (the relay's send order) follow the order of the events.
        Insert(statements, outbox, OutboxColumns, static (row, p) =>
        {
            p[0].Value = row.EventId;
            p[1].Value = row.EventType;
            p[2].Value = row.EventVersion;
            p[3].Value = row.Topic;
            p[4].Value = row.Key;
            p[5].Value = row.Payload;
            p[6].Value = (object?)row.TraceParent ?? DBNull.Value;
            p[7].Value = row.CreatedAt;
        });
    }

    private static void Insert<T>(StatementCache statements, IReadOnlyList<T> rows, string[] properties, Action<T, DbParameterCollection> fill)
    {
        if (rows.Count == 0) return;
        var db = statements.Context;
        var statement = Statements.GetOrAdd((db.GetType(), typeof(T)), key => Statement.Of(db.Model.FindEntityType(key.Entity)!, properties));
        var command = statements.Get(statement.Sql);
        for (var c = 0; c < properties.Length; c++)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = $"@p{c}";
            command.Parameters.Add(parameter);
        }
        foreach (var row in rows)
        {
            fill(row, command.Parameters);
            // A value goes in as the model's converter writes it (dates: SqliteDateTimeText on SQLite), as EF Core would.
            foreach (var (column, converter) in statement.Converters)
                if (command.Parameters[column].Value is { } value and not DBNull) command.Parameters[column].Value = converter.ConvertToProvider(value);
            command.ExecuteNonQuery();
        }
    }

    /// <summary>The INSERT of an entity's columns, and the model's value converters by column position.</summary>
    private sealed record Statement(string Sql, (int Column, ValueConverter Converter)[] Converters)
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
