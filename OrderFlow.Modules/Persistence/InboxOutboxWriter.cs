using System.Collections.Concurrent;
using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata;

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
    private static readonly ConcurrentDictionary<(Type Context, Type Entity), string> Sql = new();
    private static readonly ConcurrentDictionary<Type, Func<DateTime, object>> DateConverter = new();

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
        // A date goes in as the model's converter writes it (SqliteDateTimeText on SQLite), as EF Core would.
        var date = DateConverter.GetOrAdd(statements.Context.GetType(), _ =>
            statements.Context.Model.FindEntityType(typeof(InboxMessage))!.FindProperty(nameof(InboxMessage.ProcessedAt))!.GetValueConverter() is { } converter
                ? value => converter.ConvertToProvider(value)!
                : value => value);
        Insert(statements, inbox, InboxColumns, (row, p) =>
        {
            p[0].Value = row.EventId;
            p[1].Value = row.EventType;
            p[2].Value = row.OrderId;
            p[3].Value = row.Topic;
            p[4].Value = row.Partition;
            p[5].Value = row.Offset;
            p[6].Value = date(row.ProcessedAt);
        });
        // Rows go in list order, so ids (the relay's send order) follow the order of the events.
        Insert(statements, outbox, OutboxColumns, (row, p) =>
        {
            p[0].Value = row.EventId;
            p[1].Value = row.EventType;
            p[2].Value = row.EventVersion;
            p[3].Value = row.Topic;
            p[4].Value = row.Key;
            p[5].Value = row.Payload;
            p[6].Value = (object?)row.TraceParent ?? DBNull.Value;
            p[7].Value = date(row.CreatedAt);
        });
    }

    private static void Insert<T>(StatementCache statements, IReadOnlyList<T> rows, string[] properties, Action<T, DbParameterCollection> fill)
    {
        if (rows.Count == 0) return;
        var db = statements.Context;
        var command = statements.Get(Sql.GetOrAdd((db.GetType(), typeof(T)), key => BuildSql(db.Model.FindEntityType(key.Entity)!, properties)));
        for (var c = 0; c < properties.Length; c++)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = $"@p{c}";
            command.Parameters.Add(parameter);
        }
        foreach (var row in rows)
        {
            fill(row, command.Parameters);
            command.ExecuteNonQuery();
        }
    }

    private static string BuildSql(IEntityType entity, string[] properties)
    {
        var table = StoreObjectIdentifier.Table(entity.GetTableName()!, entity.GetSchema());
        return StatementCache.InsertSql(table.Name, properties.Select(p => entity.FindProperty(p)!.GetColumnName(table)!).ToList());
    }
}
