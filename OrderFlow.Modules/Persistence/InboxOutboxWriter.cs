using System.Collections.Concurrent;
using System.Data.Common;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.EntityFrameworkCore.Storage;

namespace OrderFlow.Persistence;

/// <summary>
/// Hot path: writes a batch's inbox and outbox rows with multi-row INSERTs on the open
/// transaction, bypassing EF Core's change tracker. These rows are only ever inserted, and
/// tracking them cost a snapshot and a change-detection pass each (see docs/benchmarks.md).
/// Table and column names come from the EF model, so the migrations stay the one schema; the SQL
/// is plain multi-row INSERT with named parameters, which SQLite and PostgreSQL both accept.
/// </summary>
internal static class InboxOutboxWriter
{
    // 100 rows x 9 columns stays under SQLite's historic 999-parameter limit, so any build works.
    private const int RowsPerStatement = 100;

    private static readonly ConcurrentDictionary<(Type Context, Type Entity, int Rows), string> Sql = new();

    public static async Task InsertAsync(ModuleDbContext db, IReadOnlyList<InboxMessage> inbox, IReadOnlyList<OutboxMessage> outbox, CancellationToken cancellationToken)
    {
        if (inbox.Count == 0 && outbox.Count == 0) return;
        var transaction = db.Database.CurrentTransaction?.GetDbTransaction()
            ?? throw new InvalidOperationException("inbox and outbox rows are written inside the batch transaction only");
        var connection = db.Database.GetDbConnection();

        await InsertAsync(db, connection, transaction, inbox, static (row, values) =>
        {
            values[0] = row.EventId;
            values[1] = row.EventType;
            values[2] = row.OrderId;
            values[3] = row.Topic;
            values[4] = row.Partition;
            values[5] = row.Offset;
            values[6] = row.ProcessedAt;
        }, [nameof(InboxMessage.EventId), nameof(InboxMessage.EventType), nameof(InboxMessage.OrderId), nameof(InboxMessage.Topic),
            nameof(InboxMessage.Partition), nameof(InboxMessage.Offset), nameof(InboxMessage.ProcessedAt)], cancellationToken);

        // Rows go in list order, so ids (the relay's send order) follow the order of the events.
        await InsertAsync(db, connection, transaction, outbox, static (row, values) =>
        {
            values[0] = row.EventId;
            values[1] = row.EventType;
            values[2] = row.EventVersion;
            values[3] = row.Topic;
            values[4] = row.Key;
            values[5] = row.Payload;
            values[6] = (object?)row.TraceParent ?? DBNull.Value;
            values[7] = row.CreatedAt;
        }, [nameof(OutboxMessage.EventId), nameof(OutboxMessage.EventType), nameof(OutboxMessage.EventVersion), nameof(OutboxMessage.Topic),
            nameof(OutboxMessage.Key), nameof(OutboxMessage.Payload), nameof(OutboxMessage.TraceParent), nameof(OutboxMessage.CreatedAt)], cancellationToken);
    }

    private static async Task InsertAsync<T>(
        ModuleDbContext db, DbConnection connection, DbTransaction transaction, IReadOnlyList<T> rows,
        Action<T, object[]> fill, string[] properties, CancellationToken cancellationToken)
    {
        var values = new object[properties.Length];
        for (var start = 0; start < rows.Count; start += RowsPerStatement)
        {
            var count = Math.Min(RowsPerStatement, rows.Count - start);
            await using var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = Sql.GetOrAdd((db.GetType(), typeof(T), count), key => BuildSql(db.Model.FindEntityType(key.Entity)!, properties, key.Rows));
            for (var r = 0; r < count; r++)
            {
                fill(rows[start + r], values);
                for (var c = 0; c < values.Length; c++)
                {
                    var parameter = command.CreateParameter();
                    parameter.ParameterName = $"@p{r}_{c}";
                    parameter.Value = values[c];
                    command.Parameters.Add(parameter);
                }
            }
            await command.ExecuteNonQueryAsync(cancellationToken);
        }
    }

    private static string BuildSql(IEntityType entity, string[] properties, int rows)
    {
        var table = StoreObjectIdentifier.Table(entity.GetTableName()!, entity.GetSchema());
        var sql = new StringBuilder("INSERT INTO \"").Append(table.Name).Append("\" (");
        sql.AppendJoin(", ", properties.Select(p => $"\"{entity.FindProperty(p)!.GetColumnName(table)}\""));
        sql.Append(") VALUES ");
        for (var r = 0; r < rows; r++)
        {
            if (r > 0) sql.Append(", ");
            sql.Append('(').AppendJoin(", ", Enumerable.Range(0, properties.Length).Select(c => $"@p{r}_{c}")).Append(')');
        }
        return sql.ToString();
    }
}
