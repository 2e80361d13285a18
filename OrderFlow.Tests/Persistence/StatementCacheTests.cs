using System.Globalization;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using OrderFlow.Persistence;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.Persistence;

/// <summary>The writers bind by position (<see cref="StatementCache.Execute"/>); a value must be stored exactly as Microsoft.Data.Sqlite stores it.</summary>
[TestFixture]
public sealed class StatementCacheTests
{
    private static readonly object?[] Values =
    [
        // Text longer than a small buffer too, and a short one after a long one.
        "text", "", "ü €", new string('é', 400), "short again", new string('x', 5_000), null, DBNull.Value, 42, 1L << 40, (short)-3, (byte)7, true, false, 2.5, 0.1f,
        1m, 59.970m, -0.0000001m, 79228162514264337593543950335m, new byte[] { 1, 2, 255 }, Array.Empty<byte>(), DayOfWeek.Friday,
    ];

    [Test]
    public async Task Execute_StoresEachValueAsMicrosoftDataSqliteStoresIt()
    {
        using var store = InMemoryStore.Orders();
        await using var db = store.NewContext();
        await db.Database.OpenConnectionAsync();
        // No declared type, so no affinity: each value keeps the storage class it was bound with.
        await db.Database.ExecuteSqlRawAsync("CREATE TABLE ours (v); CREATE TABLE theirs (v);");

        await using (var transaction = await db.Database.BeginTransactionAsync())
        {
            using (var statements = new StatementCache(db))
                foreach (var value in Values)
                    Assert.That(statements.Execute("INSERT INTO ours (v) VALUES (@p0)", [value]), Is.EqualTo(1));
            foreach (var value in Values)
            {
                await using var command = db.Database.GetDbConnection().CreateCommand();
                command.Transaction = transaction.GetDbTransaction();
                command.CommandText = "INSERT INTO theirs (v) VALUES (@p0)";
                command.Parameters.Add(new SqliteParameter("@p0", value ?? DBNull.Value));
                await command.ExecuteNonQueryAsync();
            }
            await transaction.CommitAsync();
        }

        Assert.That(await StoredAsync(db, "ours"), Is.EqualTo(await StoredAsync(db, "theirs")));
    }

    [Test]
    public async Task Execute_WhenAConstraintFails_ThrowsSqliteExceptionAndTheStatementCanRunAgain()
    {
        using var store = InMemoryStore.Orders();
        await using var db = store.NewContext();
        await db.Database.OpenConnectionAsync();
        await db.Database.ExecuteSqlRawAsync("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL);");

        await using var transaction = await db.Database.BeginTransactionAsync();
        using var statements = new StatementCache(db);
        const string insert = "INSERT INTO t (id, v) VALUES (@p0, @p1)";
        statements.Execute(insert, [1, "a"]);
        var failure = Assert.Throws<SqliteException>(() => statements.Execute(insert, [1, "b"]));
        Assert.Multiple(() =>
        {
            Assert.That(failure!.SqliteErrorCode, Is.EqualTo(19), "SQLITE_CONSTRAINT");
            Assert.That(statements.Execute(insert, [2, "c"]), Is.EqualTo(1));
            Assert.Throws<InvalidOperationException>(() => statements.Execute(insert, [3]), "a value per parameter");
        });
    }

    [Test]
    public async Task InboxApplied_GivesTheIdsAlreadyInTheInbox_OutsideAnyTransaction()
    {
        using var store = InMemoryStore.Payment();
        await store.ReadAsync(db =>
        {
            foreach (var id in new[] { "EVT-1", "EVT-2" })
                db.Inbox.Add(new InboxMessage { EventId = id, EventType = "OrderCreated", OrderId = "ORD-1", Topic = "order-events", ProcessedAt = DateTime.UtcNow });
            return db.SaveChangesAsync();
        });

        await using var db = store.NewContext();
        var applied = await InboxOutboxWriter.AppliedAsync(db, ["EVT-2", "EVT-3", "EVT-1", "EVT-2", "evt-1"], CancellationToken.None);

        Assert.Multiple(() =>
        {
            Assert.That(applied, Is.EquivalentTo(new[] { "EVT-1", "EVT-2" }));
            Assert.That(db.Database.CurrentTransaction, Is.Null);
        });
    }

    [Test]
    public async Task OutboxPending_ReadsTheRowsEfCoreReads_InIdOrder_AndCountsTheBacklogWhenTheLimitIsReached()
    {
        using var store = InMemoryStore.Orders();
        var at = new DateTime(2026, 1, 15, 10, 30, 0, 123, DateTimeKind.Utc).AddTicks(4567);
        await store.ReadAsync(db =>
        {
            for (var i = 1; i <= 4; i++)
                db.OutboxMessages.Add(new OutboxMessage
                {
                    EventId = $"EVT-{i}", EventType = "OrderStatusChanged", EventVersion = i, Topic = i == 3 ? "payment-events" : "order-events", Key = $"ORD-{i}",
                    Payload = i == 4 ? [] : [(byte)'{', (byte)i, 0xC3, (byte)'}'], TraceParent = i % 2 == 0 ? null : $"00-{i}", CreatedAt = at.AddSeconds(i),
                });
            return db.SaveChangesAsync();
        });
        var expected = await store.ReadAsync(db => db.OutboxMessages.AsNoTracking().OrderBy(m => m.Id).ToListAsync());

        await using var db = store.NewContext();
        var (some, backlog) = await InboxOutboxWriter.PendingAsync(db, expected[0].Id, 2, CancellationToken.None);
        var (rest, left) = await InboxOutboxWriter.PendingAsync(db, some[^1].Id, 2, CancellationToken.None);

        Assert.Multiple(() =>
        {
            // The relay's form: text columns as their UTF-8 bytes.
            Assert.That(some.Concat(rest).Select(PendingRows.Describe), Is.EqualTo(expected.Skip(1).Select(Describe)));
            Assert.That(backlog, Is.EqualTo(3), "the limit was reached: all rows after the mark are counted");
            Assert.That(left, Is.EqualTo(1));
            Assert.That(some[1].EventType, Is.SameAs(some[0].EventType).And.SameAs(rest[0].EventType), "rows of one event type share one array");
        });

        static string Describe(OutboxMessage m) =>
            $"{m.Id}|{m.EventId}|{m.EventType}|{m.EventVersion}|{m.Topic}|{m.Key}|{Convert.ToHexString(m.Payload)}|{m.TraceParent ?? "null"}";
    }

    [Test]
    public void EventTypeNames_InternEachNameOnce_AndCopyPastTheirCapacity()
    {
        var names = new InboxOutboxWriter.EventTypeNames(capacity: 2);
        var first = names.Intern("OrderCreated"u8);
        var again = names.Intern("OrderCreated"u8.ToArray());
        var other = names.Intern("OrderCancelled"u8);
        var overflow = names.Intern("OrderStatusChanged"u8);

        Assert.Multiple(() =>
        {
            Assert.That(again, Is.SameAs(first));
            Assert.That(other, Is.Not.SameAs(first));
            Assert.That(other, Is.EqualTo("OrderCancelled"u8.ToArray()));
            Assert.That(names.Intern("OrderCancelled"u8), Is.SameAs(other), "names interned before the table filled stay shared");
            Assert.That(overflow, Is.EqualTo("OrderStatusChanged"u8.ToArray()));
            Assert.That(names.Intern("OrderStatusChanged"u8), Is.Not.SameAs(overflow), "past the capacity, a copy each time");
        });
    }

    private static async Task<List<string>> StoredAsync(DbContext db, string table)
    {
        await using var command = db.Database.GetDbConnection().CreateCommand();
        command.CommandText = $"SELECT typeof(v) || ':' || quote(v) FROM {table} ORDER BY rowid";
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<string>();
        while (await reader.ReadAsync()) rows.Add(reader.GetString(0));
        return rows;
    }
}
