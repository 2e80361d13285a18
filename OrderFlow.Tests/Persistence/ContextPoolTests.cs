using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using OrderFlow.Payment.Data;
using OrderFlow.Persistence;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.Persistence;

/// <summary>
/// The module contexts come from EF Core's context pool: a context that one scope used is handed to
/// the next one, which must find nothing of the unit of work before it — no pending inserts, no
/// preload, no subscribers, no after-commit actions, no tracked rows.
/// </summary>
[TestFixture]
public sealed class ContextPoolTests
{
    private static readonly DateTime At = new(2026, 1, 15, 10, 30, 0, DateTimeKind.Utc);
    private string directory = null!;
    private ServiceProvider services = null!;

    [SetUp]
    public void SetUp()
    {
        directory = Directory.CreateTempSubdirectory("orderflow-pool-").FullName;
        services = TestStores.Payment(Path.Combine(directory, "store.db"));
    }

    [TearDown]
    public void TearDown()
    {
        services.Dispose();
        SqliteConnection.ClearAllPools();
        Directory.Delete(directory, recursive: true);
    }

    [Test]
    public async Task Lease_OfAContextAnEarlierScopeUsed_FindsNothingOfThatUnitOfWork()
    {
        var calls = 0;
        PaymentDbContext first;
        await using (var scope = services.CreateAsyncScope())
        {
            first = scope.ServiceProvider.GetRequiredService<PaymentDbContext>();
            first.IndexOrderRows();
            first.MarkPreloaded(new HashSet<string> { "ORD-1" });
            first.Requests.Attach(new PaymentRequest { OrderId = "ORD-1", Status = PaymentStatus.Pending, UpdatedAt = At });
            first.Insert(new LedgerEntry { Id = "PAY-1", OrderId = "ORD-1", Kind = LedgerKind.Charge, Amount = 1m, At = At });
            first.AddLoaded(TrackedChangesWriter.Snapshot(first, new PaymentRequest { OrderId = "ORD-3", Status = PaymentStatus.Pending, UpdatedAt = At })!);
            first.Saving += () => calls++;
            first.Saved += () => calls++;
            first.SaveFailed += () => calls++;
            first.AfterCommit(() => calls++);
        }

        await using (var scope = services.CreateAsyncScope())
        {
            var second = scope.ServiceProvider.GetRequiredService<PaymentDbContext>();
            Assert.That(second, Is.SameAs(first), "the pool handed the same context out again");
            Assert.Multiple(() =>
            {
                Assert.That(second.ChangeTracker.Entries(), Is.Empty);
                Assert.That(second.Inserted<LedgerEntry>(), Is.Empty);
                Assert.That(second.IsPreloaded("ORD-1"), Is.False);
                Assert.That(second.LoadedRows<PaymentRequest>(nameof(PaymentRequest.Status)), Is.Empty, "rows read untracked are gone");
            });
            second.OnSaving();
            second.OnSaved();
            second.OnSaveFailed();
            second.RunAfterCommit();
            Assert.That(calls, Is.Zero, "the earlier scope's subscribers and after-commit actions are gone");

            // The index of tracked rows starts again: this lease's rows are found, the earlier one's are not.
            second.IndexOrderRows();
            second.MarkPreloaded(new HashSet<string> { "ORD-1", "ORD-2" });
            var request = new PaymentRequest { OrderId = "ORD-2", Status = PaymentStatus.Pending, UpdatedAt = At };
            second.Requests.Attach(request);
            var found = await second.FindOfOrderAsync<PaymentRequest>("ORD-2", r => r.OrderId == "ORD-2",
                _ => throw new AssertionException("a preloaded order is looked up without a query"), CancellationToken.None);
            var gone = await second.FindOfOrderAsync<PaymentRequest>("ORD-1", r => r.OrderId == "ORD-1",
                _ => throw new AssertionException("a preloaded order is looked up without a query"), CancellationToken.None);
            Assert.That(found, Is.SameAs(request));
            Assert.That(gone, Is.Null);
        }
    }
}
