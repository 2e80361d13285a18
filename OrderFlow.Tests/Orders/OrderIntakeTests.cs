using System.Diagnostics;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OrderFlow.Messaging;
using OrderFlow.Orders;
using OrderFlow.Orders.Data;
using OrderFlow.Persistence;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.Orders;

/// <summary>
/// Orders placed one at a time (<c>POST /orders</c>) share transactions through the
/// <see cref="OrderIntake"/>: the ones that arrive while the write turn is taken go in together,
/// each keeps its own trace and idempotency, and a transaction that fails is placed again order by order.
/// The write turn is held by the test (<see cref="WriteGate"/>) so that the orders pile up meanwhile.
/// </summary>
[TestFixture]
public sealed class OrderIntakeTests
{
    private static readonly NewOrder Order = new("USER-001", [new NewOrderLine("PROD-001", 2, 10m)]);
    private static readonly NewOrder OtherOrder = new("USER-001", [new NewOrderLine("PROD-001", 3, 10m)]);

    private string directory = null!;
    private ServiceProvider services = null!;

    [SetUp]
    public async Task SetUp()
    {
        directory = Directory.CreateTempSubdirectory("orderflow-intake-").FullName;
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["OrderFlow:Database:Path"] = Path.Combine(directory, "store.db"),
        }).Build();
        services = new ServiceCollection().AddLogging().AddOrdersStore(configuration).AddSingleton<OrderIntake>().BuildServiceProvider();
        await using var scope = services.CreateAsyncScope();
        await scope.ServiceProvider.GetRequiredService<OrdersDbContext>().Database.MigrateAsync();
    }

    [TearDown]
    public void TearDown()
    {
        services.Dispose();
        SqliteConnection.ClearAllPools();
        Directory.Delete(directory, recursive: true);
    }

    private OrderIntake Intake => services.GetRequiredService<OrderIntake>();

    [Test]
    public async Task Place_WhenOrdersArriveWhileTheWriteTurnIsTaken_CommitsThemTogether_EachInItsOwnTrace()
    {
        const int count = 200;
        var traces = new string[count];
        Task<PlaceResult>[] placing;
        await using (await HoldWriteTurnAsync())
        {
            placing = Enumerable.Range(0, count).Select(i => PlaceInTraceAsync(Order, key: null, trace => traces[i] = trace)).ToArray();
            await Eventually.Until(() => Intake.Waiting == count, $"{count} orders in the intake", TimeSpan.FromSeconds(10));
        }
        var results = await Task.WhenAll(placing);

        var rows = await ReadAsync(db => db.OutboxMessages.OrderBy(m => m.Id).Select(m => new { m.Key, m.TraceParent }).ToListAsync());
        Assert.Multiple(() =>
        {
            Assert.That(results.Select(r => r.Outcome), Is.All.EqualTo(PlaceOutcome.Created));
            Assert.That(results.Select(r => r.Order.Id).Distinct().Count(), Is.EqualTo(count));
            // The first order may go alone, taken before the others arrived; the rest share one.
            Assert.That(Intake.Transactions, Is.InRange(1, 2), "one transaction per order before the intake");
            Assert.That(rows.Select(r => r.Key), Is.EquivalentTo(results.Select(r => r.Order.Id)));
            for (var i = 0; i < count; i++)
            {
                var row = rows.Single(r => r.Key == results[i].Order.Id);
                Assert.That(Tracing.TraceIdOf(row.TraceParent!), Is.EqualTo(Tracing.TraceIdOf(traces[i])), $"order {i}'s OrderCreated is in its request's trace");
            }
        });
    }

    [Test]
    public async Task Place_WhenOneTransactionHoldsRequestsWithOneKey_CreatesOneOrder_AndAnswersTheOthersFromIt()
    {
        Task<PlaceResult> first, retry, otherBody, unkeyed;
        await using (await HoldWriteTurnAsync())
        {
            first = PlaceAsync(Order, "key-1");
            retry = PlaceAsync(Order, "key-1");
            otherBody = PlaceAsync(OtherOrder, "key-1");
            unkeyed = PlaceAsync(Order, null);
            await Eventually.Until(() => Intake.Waiting == 4, "4 orders in the intake", TimeSpan.FromSeconds(10));
        }

        Assert.Multiple(async () =>
        {
            Assert.That((await first).Outcome, Is.EqualTo(PlaceOutcome.Created));
            Assert.That((await retry).Outcome, Is.EqualTo(PlaceOutcome.Replayed));
            Assert.That((await retry).Order.Id, Is.EqualTo((await first).Order.Id));
            Assert.That((await otherBody).Outcome, Is.EqualTo(PlaceOutcome.KeyConflict));
            Assert.That((await otherBody).Order.Id, Is.EqualTo((await first).Order.Id));
            Assert.That((await unkeyed).Outcome, Is.EqualTo(PlaceOutcome.Created));
            Assert.That(await ReadAsync(db => db.Orders.CountAsync(o => o.IdempotencyKey == "key-1")), Is.EqualTo(1));
            Assert.That(await ReadAsync(db => db.Orders.CountAsync()), Is.EqualTo(2));
        });
    }

    [Test]
    public async Task Place_WhenAKeyIsCommittedBetweenItsLookUpAndItsTransaction_PlacesEachOrderAlone()
    {
        Task<PlaceResult> ahead, keyed, unkeyed, elsewhere;
        await using (await HoldWriteTurnAsync())
        {
            // Taken by the intake at once: it waits for the turn with this order alone.
            ahead = PlaceAsync(Order, null);
            await Eventually.Until(() => Intake is { Queued: 0, Waiting: 1 }, "the first order taken", TimeSpan.FromSeconds(10));
            keyed = PlaceAsync(Order, "key-2");
            unkeyed = PlaceAsync(Order, null);
            await Eventually.Until(() => Intake.Queued == 2, "two orders queued behind it", TimeSpan.FromSeconds(10));
            // The same key from a placement without the intake: it queues for the turn before the
            // intake's next transaction does, and commits first.
            elsewhere = PlaceWithoutIntakeAsync(Order, "key-2");
            await Eventually.Until(() => WriteGateWaiting() == 2, "the first order's transaction and the other placement wait for the turn", TimeSpan.FromSeconds(10));
        }

        Assert.Multiple(async () =>
        {
            Assert.That((await ahead).Outcome, Is.EqualTo(PlaceOutcome.Created));
            Assert.That((await elsewhere).Outcome, Is.EqualTo(PlaceOutcome.Created));
            Assert.That((await keyed).Outcome, Is.EqualTo(PlaceOutcome.Replayed), "the key's order is the one committed meanwhile");
            Assert.That((await keyed).Order.Id, Is.EqualTo((await elsewhere).Order.Id));
            Assert.That((await unkeyed).Outcome, Is.EqualTo(PlaceOutcome.Created), "the other order of the failed transaction is placed alone");
            Assert.That(await ReadAsync(db => db.Orders.CountAsync()), Is.EqualTo(3));
            Assert.That(await ReadAsync(db => db.OutboxMessages.CountAsync()), Is.EqualTo(3), "one OrderCreated per order, none of the rolled-back transaction");
            Assert.That(Intake.Transactions, Is.EqualTo(4), "the first order's, the failed one, then one for each of its two orders");
        });
    }

    private async Task<PlaceResult> PlaceAsync(NewOrder order, string? key)
    {
        await using var scope = services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<OrderPlacement>().PlaceAsync(order, key, CancellationToken.None);
    }

    private async Task<PlaceResult> PlaceWithoutIntakeAsync(NewOrder order, string? key)
    {
        await using var scope = services.CreateAsyncScope();
        var provider = scope.ServiceProvider;
        return await new OrderPlacement(provider.GetRequiredService<OrdersDbContext>(), provider.GetRequiredService<OutboxSignal<OrdersDbContext>>(), TimeProvider.System)
            .PlaceAsync(order, key, CancellationToken.None);
    }

    /// <summary>Places the order inside an activity of its own, as a request's, and tells its trace parent.</summary>
    private Task<PlaceResult> PlaceInTraceAsync(NewOrder order, string? key, Action<string> trace) => Task.Run(async () =>
    {
        using var activity = new Activity("POST /orders").SetIdFormat(ActivityIdFormat.W3C).Start();
        trace(activity.Id!);
        return await PlaceAsync(order, key);
    });

    /// <summary>
    /// Takes the Orders store's write turn; the intake's transactions wait until it is disposed,
    /// which releases the turn and then the scope it was taken in.
    /// </summary>
    private async Task<IAsyncDisposable> HoldWriteTurnAsync()
    {
        var scope = services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<OrdersDbContext>();
        return new HeldTurn(await WriteGate.EnterAsync(db.Database, CancellationToken.None), scope);
    }

    private sealed class HeldTurn(WriteTurn turn, AsyncServiceScope scope) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await turn.DisposeAsync();
            await scope.DisposeAsync();
        }
    }

    private int WriteGateWaiting()
    {
        using var scope = services.CreateScope();
        return WriteGate.Waiting(scope.ServiceProvider.GetRequiredService<OrdersDbContext>().Database);
    }

    private async Task<T> ReadAsync<T>(Func<OrdersDbContext, Task<T>> read)
    {
        await using var scope = services.CreateAsyncScope();
        return await read(scope.ServiceProvider.GetRequiredService<OrdersDbContext>());
    }
}
