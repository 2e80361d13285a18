using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using OrderFlow.Contracts;
using OrderFlow.Payment;
using OrderFlow.Payment.Data;
using OrderFlow.Payment.Handlers;
using OrderFlow.Tests.Support;
using static OrderFlow.Tests.Support.Builders;

namespace OrderFlow.Tests.Payment;

/// <summary>Payment's handlers (<c>OrderCreated</c>, <c>InventoryReserved</c>, <c>OrderCancelled</c>) and the simulated gateway.</summary>
[TestFixture]
public sealed class PaymentHandlerTests
{
    private readonly FixedClock clock = new();
    private InMemoryStore<PaymentDbContext> store = null!;
    private PaymentGateway gateway = null!;

    [SetUp]
    public void CreateStore()
    {
        store = InMemoryStore.Payment();
        gateway = Gateway(new PaymentOptions());
    }

    [TearDown]
    public void DropStore() => store.Dispose();

    [Test]
    public async Task Handle_WhenOrderCreatedThenInventoryReserved_ChargesOnceAndEmitsPaymentCompleted()
    {
        OrderCreated order = AnOrderCreated().WithItem("PROD-001", 2, 99.99m);

        var afterCreated = await CreatedAsync(order);
        var afterReserved = await ReservedAsync(order.OrderId);

        Assert.That(afterCreated, Is.Empty);
        var completed = afterReserved.OfType<PaymentCompleted>().Single();
        Assert.That(completed.Amount, Is.EqualTo(199.98m));
        var charge = (await LedgerAsync(order.OrderId)).Single();
        Assert.That(charge.Kind, Is.EqualTo(LedgerKind.Charge));
        Assert.That(charge.Amount, Is.EqualTo(199.98m));
        Assert.That(charge.Id, Is.EqualTo(completed.PaymentId));
        Assert.That((await RequestAsync(order.OrderId)).Status, Is.EqualTo(PaymentStatus.Charged));
        Assert.That(await store.OutboxRowsAsync(), Is.EqualTo(new[] { (nameof(PaymentCompleted), order.OrderId) }));
    }

    [Test]
    public async Task Handle_WhenInventoryReservedArrivesBeforeOrderCreated_ChargesOnceBothAreKnown()
    {
        OrderCreated order = AnOrderCreated().WithItem("PROD-001", 3, 10m);

        var afterReserved = await ReservedAsync(order.OrderId);
        Assert.That(afterReserved, Is.Empty);
        Assert.That(await LedgerAsync(order.OrderId), Is.Empty);

        var afterCreated = await CreatedAsync(order);

        Assert.That(afterCreated.OfType<PaymentCompleted>().Single().Amount, Is.EqualTo(30m));
        Assert.That((await LedgerAsync(order.OrderId)).Single().Amount, Is.EqualTo(30m));
    }

    [Test]
    public async Task Handle_WhenOrderCreatedAndInventoryReservedArriveTwice_ChargesOnce()
    {
        OrderCreated order = AnOrderCreated().WithItem("PROD-001", 1, 25m);

        await CreatedAsync(order);
        await ReservedAsync(order.OrderId);
        var createdAgain = await CreatedAsync(order with { EventId = IntegrationEvent.NewEventId() });
        var reservedAgain = await ReservedAsync(order.OrderId);

        Assert.That(createdAgain, Is.Empty);
        Assert.That(reservedAgain, Is.Empty);
        Assert.That((await LedgerAsync(order.OrderId)).Count(e => e.Kind == LedgerKind.Charge), Is.EqualTo(1));
        Assert.That(await store.OutboxRowsAsync(), Has.Count.EqualTo(1));
    }

    [Test]
    public async Task Handle_WhenOrderCancelledArrivesBeforeInventoryReserved_NeverCharges()
    {
        OrderCreated order = AnOrderCreated().WithItem("PROD-001", 1, 25m);

        await CreatedAsync(order);
        var afterCancelled = await CancelledAsync(order.OrderId, "user_cancelled");
        var afterReserved = await ReservedAsync(order.OrderId);

        Assert.That(afterCancelled, Is.Empty);
        Assert.That(afterReserved, Is.Empty);
        Assert.That(await LedgerAsync(order.OrderId), Is.Empty);
        var request = await RequestAsync(order.OrderId);
        Assert.That(request.Status, Is.EqualTo(PaymentStatus.Cancelled));
        Assert.That(request.CancelReason, Is.EqualTo("user_cancelled"));
        Assert.That(await store.OutboxRowsAsync(), Is.Empty);
    }

    [Test]
    public async Task Handle_WhenOrderCancelledArrivesBeforeBothFacts_NeverCharges()
    {
        OrderCreated order = AnOrderCreated().WithItem("PROD-001", 1, 25m);

        await ReservedAsync(order.OrderId);
        await CancelledAsync(order.OrderId, "timed_out");
        await CreatedAsync(order);

        Assert.That(await LedgerAsync(order.OrderId), Is.Empty);
        Assert.That(await store.OutboxRowsAsync(), Is.Empty);
    }

    [Test]
    public async Task Handle_WhenAmountIsAboveDeclineAbove_EmitsPaymentFailedAndChargesNothing()
    {
        gateway = Gateway(new PaymentOptions { DeclineAbove = 100m });
        OrderCreated order = AnOrderCreated().WithItem("PROD-001", 2, 50.01m);

        await CreatedAsync(order);
        var emitted = await ReservedAsync(order.OrderId);

        var failed = emitted.OfType<PaymentFailed>().Single();
        Assert.That(failed.Reason, Is.EqualTo("amount_above_limit"));
        Assert.That(failed.Amount, Is.EqualTo(100.02m));
        Assert.That(await LedgerAsync(order.OrderId), Is.Empty);
        var request = await RequestAsync(order.OrderId);
        Assert.That(request.Status, Is.EqualTo(PaymentStatus.Declined));
        Assert.That(request.Reason, Is.EqualTo("amount_above_limit"));
        Assert.That(await store.OutboxRowsAsync(), Is.EqualTo(new[] { (nameof(PaymentFailed), order.OrderId) }));
    }

    [Test]
    public async Task Handle_WhenAmountEqualsDeclineAbove_Charges()
    {
        gateway = Gateway(new PaymentOptions { DeclineAbove = 100m });
        OrderCreated order = AnOrderCreated().WithItem("PROD-001", 2, 50m);

        await CreatedAsync(order);
        var emitted = await ReservedAsync(order.OrderId);

        Assert.That(emitted.Single(), Is.TypeOf<PaymentCompleted>());
    }

    [Test]
    public async Task Handle_WhenTheFailureRateIsOne_DeclinesWithCardDeclined()
    {
        gateway = Gateway(new PaymentOptions { FailureRate = 1.0 });
        OrderCreated order = AnOrderCreated();

        await CreatedAsync(order);
        var emitted = await ReservedAsync(order.OrderId);

        Assert.That(emitted.OfType<PaymentFailed>().Single().Reason, Is.EqualTo("card_declined"));
        Assert.That(await LedgerAsync(order.OrderId), Is.Empty);
    }

    [Test]
    public async Task ChargeAsync_WhenTheFailureRateIsSeeded_DecidesTheSameForTheSameOrderIdEveryTime()
    {
        var settings = new PaymentOptions { FailureRate = 0.5, Seed = 7 };
        var orderIds = Enumerable.Range(1, 40).Select(i => $"ORD-SEEDED-{i:D3}").ToList();

        var first = await DecisionsAsync(Gateway(settings), orderIds);
        var again = await DecisionsAsync(Gateway(settings), orderIds.AsEnumerable().Reverse().ToList());
        var otherSeed = await DecisionsAsync(Gateway(new PaymentOptions { FailureRate = 0.5, Seed = 8 }), orderIds);

        Assert.That(again, Is.EquivalentTo(first));
        Assert.That(first.Values, Has.Some.EqualTo(GatewayDecision.Declined).And.Some.EqualTo(GatewayDecision.Approved));
        Assert.That(otherSeed, Is.Not.EquivalentTo(first));
        foreach (var orderId in orderIds)
            Assert.That(first[orderId] == GatewayDecision.Declined, Is.EqualTo(PaymentGateway.Uniform(7, orderId) < 0.5), orderId);
    }

    [Test]
    public async Task Handle_WhenTheGatewayFailsTransiently_ThrowsAndLeavesTheOrderChargeableOnRetry()
    {
        OrderCreated order = AnOrderCreated().WithItem("PROD-001", 1, 25m);
        await CreatedAsync(order);
        gateway = Gateway(new PaymentOptions { TransientErrorRate = 1.0 });

        Assert.ThrowsAsync<TransientGatewayException>(() => ReservedAsync(order.OrderId));

        Assert.That(await LedgerAsync(order.OrderId), Is.Empty);
        Assert.That((await RequestAsync(order.OrderId)).Status, Is.EqualTo(PaymentStatus.Pending));
        Assert.That(await store.OutboxRowsAsync(), Is.Empty);

        gateway = Gateway(new PaymentOptions());
        var retried = await ReservedAsync(order.OrderId);

        Assert.That(retried.Single(), Is.TypeOf<PaymentCompleted>());
        Assert.That(await LedgerAsync(order.OrderId), Has.Count.EqualTo(1));
    }

    [Test]
    public async Task ChargeAsync_WhenTheTransientErrorRateIsSeeded_FailsOnTheSameCallsEveryRun()
    {
        var settings = new PaymentOptions { TransientErrorRate = 0.5, Seed = 11 };

        var first = await TransientPatternAsync(Gateway(settings), 30);
        var again = await TransientPatternAsync(Gateway(settings), 30);

        Assert.That(again, Is.EqualTo(first));
        Assert.That(first, Has.Some.True.And.Some.False);
    }

    [Test]
    public async Task Handle_WhenOrderCancelledArrivesAfterTheCharge_RefundsOnceAndEmitsPaymentRefunded()
    {
        OrderCreated order = AnOrderCreated().WithItem("PROD-001", 4, 12.5m);
        await CreatedAsync(order);
        var charged = (await ReservedAsync(order.OrderId)).OfType<PaymentCompleted>().Single();

        var emitted = await CancelledAsync(order.OrderId, "user_cancelled");

        var refunded = emitted.OfType<PaymentRefunded>().Single();
        Assert.That(refunded.PaymentId, Is.EqualTo(charged.PaymentId));
        Assert.That(refunded.Amount, Is.EqualTo(50m));
        Assert.That(refunded.Reason, Is.EqualTo("user_cancelled"));
        var ledger = await LedgerAsync(order.OrderId);
        Assert.That(ledger.Select(e => (e.Kind, e.Amount)), Is.EquivalentTo(new[] { (LedgerKind.Charge, 50m), (LedgerKind.Refund, 50m) }));
        Assert.That((await RequestAsync(order.OrderId)).Status, Is.EqualTo(PaymentStatus.Refunded));
        Assert.That(await store.OutboxRowsAsync(), Is.EqualTo(new[] { (nameof(PaymentCompleted), order.OrderId), (nameof(PaymentRefunded), order.OrderId) }));
    }

    [Test]
    public async Task Handle_WhenOrderCancelledArrivesTwiceAfterTheCharge_RefundsOnce()
    {
        OrderCreated order = AnOrderCreated();
        await CreatedAsync(order);
        await ReservedAsync(order.OrderId);

        await CancelledAsync(order.OrderId, "user_cancelled");
        var second = await CancelledAsync(order.OrderId, "timed_out");

        Assert.That(second, Is.Empty);
        Assert.That((await LedgerAsync(order.OrderId)).Count(e => e.Kind == LedgerKind.Refund), Is.EqualTo(1));
    }

    [Test]
    public async Task Handle_WhenADeclinedOrderIsCancelled_RefundsNothing()
    {
        gateway = Gateway(new PaymentOptions { DeclineAbove = 1m });
        OrderCreated order = AnOrderCreated().WithItem("PROD-001", 1, 5m);
        await CreatedAsync(order);
        await ReservedAsync(order.OrderId);

        var emitted = await CancelledAsync(order.OrderId, "payment_failed");

        Assert.That(emitted, Is.Empty);
        Assert.That(await LedgerAsync(order.OrderId), Is.Empty);
        Assert.That((await RequestAsync(order.OrderId)).Status, Is.EqualTo(PaymentStatus.Declined));
    }

    [Test]
    public async Task Handle_WhenAnOrderIsCancelledBeforeAnythingElse_RecordsNoMoneyMovement()
    {
        var emitted = await CancelledAsync("ORD-NEVER-SEEN", "user_cancelled");

        Assert.That(emitted, Is.Empty);
        Assert.That(await LedgerAsync("ORD-NEVER-SEEN"), Is.Empty);
    }

    private PaymentGateway Gateway(PaymentOptions settings) => new(Options.Create(settings), clock);

    private Task<IReadOnlyList<IntegrationEvent>> CreatedAsync(OrderCreated evt) =>
        store.ApplyAsync((db, outbox) => new OrderCreatedHandler(Process(db)).HandleAsync(evt, outbox, CancellationToken.None));

    private Task<IReadOnlyList<IntegrationEvent>> ReservedAsync(string orderId) =>
        store.ApplyAsync((db, outbox) => new InventoryReservedHandler(Process(db))
            .HandleAsync(new InventoryReserved { OrderId = orderId, ReservationId = "RSV-" + orderId, Timestamp = clock.Now.UtcDateTime }, outbox, CancellationToken.None));

    private Task<IReadOnlyList<IntegrationEvent>> CancelledAsync(string orderId, string reason) =>
        store.ApplyAsync((db, outbox) => new OrderCancelledHandler(Process(db))
            .HandleAsync(new OrderCancelled { OrderId = orderId, Reason = reason, Timestamp = clock.Now.UtcDateTime }, outbox, CancellationToken.None));

    private PaymentProcess Process(PaymentDbContext db) => new(db, gateway, clock);

    private Task<List<LedgerEntry>> LedgerAsync(string orderId) =>
        store.ReadAsync(db => db.Ledger.Where(e => e.OrderId == orderId).ToListAsync());

    private Task<PaymentRequest> RequestAsync(string orderId) =>
        store.ReadAsync(db => db.Requests.SingleAsync(r => r.OrderId == orderId));

    private static async Task<Dictionary<string, GatewayDecision>> DecisionsAsync(PaymentGateway gateway, IReadOnlyList<string> orderIds)
    {
        var decisions = new Dictionary<string, GatewayDecision>();
        foreach (var orderId in orderIds)
            decisions[orderId] = (await gateway.ChargeAsync(orderId, 10m, CancellationToken.None)).Decision;
        return decisions;
    }

    private static async Task<List<bool>> TransientPatternAsync(PaymentGateway gateway, int calls)
    {
        var failed = new List<bool>();
        for (var i = 0; i < calls; i++)
        {
            try
            {
                await gateway.ChargeAsync("ORD-TRANSIENT", 10m, CancellationToken.None);
                failed.Add(false);
            }
            catch (TransientGatewayException)
            {
                failed.Add(true);
            }
        }
        return failed;
    }
}
