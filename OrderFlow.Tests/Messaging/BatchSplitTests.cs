using Confluent.Kafka;
using OrderFlow.Contracts;
using OrderFlow.Messaging;
using OrderFlow.Persistence;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.Messaging;

public sealed class BatchSplitTests
{
    [Test]
    public void SplitAtRepeatedOrders_WhenAnOrderComesBack_StartsANewPartAtItsSecondEvent()
    {
        var batch = new[] { "A", "B", "A", "C", "B", "A" }.Select(Message).ToList();

        var parts = EventConsumer<ModuleDbContext>.SplitAtRepeatedOrders(batch).Select(p => p.Select(m => m.Event!.OrderId)).ToList();

        Assert.That(parts, Is.EqualTo(new[] { new[] { "A", "B" }, new[] { "A", "C", "B" }, new[] { "A" } }));
    }

    [Test]
    public void SplitAtRepeatedOrders_WhenEveryOrderIsDistinct_KeepsTheBatchWhole()
    {
        var batch = new[] { "A", "B", "C" }.Select(Message).ToList();

        var parts = EventConsumer<ModuleDbContext>.SplitAtRepeatedOrders(batch).ToList();

        Assert.That(parts, Has.Count.EqualTo(1));
        Assert.That(parts[0], Is.EqualTo(batch));
    }

    private static IncomingMessage Message(string orderId) => new()
    {
        Raw = new ConsumeResult<byte[]?, byte[]?>(),
        Event = Builders.AnOrderCreated(orderId).Build(),
    };
}
