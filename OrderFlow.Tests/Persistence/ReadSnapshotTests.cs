using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OrderFlow.Payment.Data;
using OrderFlow.Persistence;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.Persistence;

/// <summary>
/// A consumer's reads before its write turn (the module's version, the inbox check, the preload)
/// run in one read transaction (<see cref="ReadSnapshot"/>): they see the store as of the first of
/// them, and they hold no write lock, so the other writers go on meanwhile.
/// </summary>
[TestFixture]
public sealed class ReadSnapshotTests
{
    private string directory = null!;
    private ServiceProvider services = null!;

    [SetUp]
    public async Task SetUp()
    {
        directory = Directory.CreateTempSubdirectory("orderflow-snapshot-").FullName;
        services = TestStores.Payment(Path.Combine(directory, "store.db"));
        await using var scope = services.CreateAsyncScope();
        await scope.ServiceProvider.GetRequiredService<PaymentDbContext>().Database.MigrateAsync();
    }

    [TearDown]
    public async Task TearDown()
    {
        await services.DisposeAsync();
        SqliteConnection.ClearAllPools();
        Directory.Delete(directory, recursive: true);
    }

    [Test]
    public async Task Reads_InsideTheSnapshot_SeeTheStoreAsOfTheFirst_WhileAnotherWriterCommits()
    {
        await using var readerScope = services.CreateAsyncScope();
        var reader = readerScope.ServiceProvider.GetRequiredService<PaymentDbContext>();
        await reader.Database.OpenConnectionAsync();
        long versionBefore, versionInside;
        HashSet<string> appliedInside;

        await using (await ReadSnapshot.BeginAsync(reader.Database, CancellationToken.None))
        {
            versionBefore = await ModuleVersion.ReadAsync(reader, CancellationToken.None);

            // Another writer commits while the snapshot is open: it gets the write lock at once.
            await using (var writerScope = services.CreateAsyncScope())
            {
                var writer = writerScope.ServiceProvider.GetRequiredService<PaymentDbContext>();
                var committing = Task.Run(async () =>
                {
                    await using var transaction = await writer.Database.BeginWriteTransactionAsync(CancellationToken.None);
                    writer.Inbox.Add(new InboxMessage { EventId = "EVT-1", EventType = "OrderCreated", OrderId = "ORD-1", Topic = "order-events", ProcessedAt = DateTime.UtcNow });
                    await writer.SaveChangesAsync();
                    await transaction.CommitAsync(CancellationToken.None);
                });
                Assert.That(await Task.WhenAny(committing, Task.Delay(TimeSpan.FromSeconds(10))), Is.SameAs(committing), "the snapshot holds no write lock");
                await committing;
            }

            versionInside = await ModuleVersion.ReadAsync(reader, CancellationToken.None);
            appliedInside = await InboxOutboxWriter.AppliedAsync(reader, ["EVT-1"], CancellationToken.None);
        }
        var versionAfter = await ModuleVersion.ReadAsync(reader, CancellationToken.None);
        var appliedAfter = await InboxOutboxWriter.AppliedAsync(reader, ["EVT-1"], CancellationToken.None);

        Assert.Multiple(() =>
        {
            Assert.That(versionInside, Is.EqualTo(versionBefore), "the version as of the snapshot's first read");
            Assert.That(appliedInside, Is.Empty, "the inbox as of the snapshot's first read");
            Assert.That(versionAfter, Is.GreaterThan(versionBefore), "once it ends, the commit is seen");
            Assert.That(appliedAfter, Is.EquivalentTo(new[] { "EVT-1" }));
            Assert.That(reader.Database.CurrentTransaction, Is.Null, "the context is left without a transaction");
        });
    }

    [Test]
    public async Task WriteTransaction_AfterTheSnapshotEnds_OnTheSameContext_Commits()
    {
        await using var scope = services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PaymentDbContext>();
        await db.Database.OpenConnectionAsync();
        await using (await ReadSnapshot.BeginAsync(db.Database, CancellationToken.None))
            await ModuleVersion.ReadAsync(db, CancellationToken.None);

        await using (var transaction = await db.Database.BeginWriteTransactionAsync(CancellationToken.None))
        {
            db.Inbox.Add(new InboxMessage { EventId = "EVT-2", EventType = "OrderCreated", OrderId = "ORD-2", Topic = "order-events", ProcessedAt = DateTime.UtcNow });
            await db.SaveChangesAsync();
            await transaction.CommitAsync(CancellationToken.None);
        }

        Assert.That(await InboxOutboxWriter.AppliedAsync(db, ["EVT-2"], CancellationToken.None), Is.EquivalentTo(new[] { "EVT-2" }));
    }
}
