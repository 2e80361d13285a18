using Confluent.Kafka;
using OrderFlow.Host.Broker;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.Reliability;

/// <summary>
/// Faults injected through the embedded broker's own fault API while orders flow: no order is lost,
/// no effect doubles, every order ends terminal once the broker recovers.
/// </summary>
[TestFixture]
public sealed class BrokerFaultTests
{
    private const int Orders = 60;

    [Test]
    public async Task Flow_WhenProduceAndFetchRequestsFail_LosesNothingAndDoublesNothing()
    {
        await using var host = await TestHost.StartAsync();
        var broker = host.Broker!;

        broker.PushRequestErrors(KafkaApiKey.Produce,
            ErrorCode.NotLeaderForPartition, ErrorCode.RequestTimedOut, ErrorCode.NotLeaderForPartition, ErrorCode.RequestTimedOut, ErrorCode.NotEnoughReplicas);
        broker.PushRequestErrors(KafkaApiKey.Fetch,
            ErrorCode.NotLeaderForPartition, ErrorCode.RequestTimedOut, ErrorCode.NotLeaderForPartition, ErrorCode.RequestTimedOut);
        var ids = await PlaceAsync(host, Orders);

        await AllTerminalAsync(host, ids);
        await host.AssertInvariantsEventuallyHoldAsync();
    }

    [Test]
    public async Task Flow_WhenTheBrokerIsDownForTenSeconds_FinishesEveryOrderAfterItReturns()
    {
        await using var host = await TestHost.StartAsync();
        var broker = host.Broker!;
        var before = await PlaceAsync(host, Orders / 2);

        broker.SetDown();
        var during = await PlaceAsync(host, Orders / 2);
        await Task.Delay(TimeSpan.FromSeconds(10));
        foreach (var id in during) Assert.That(await host.StatusOfAsync(id), Is.EqualTo("Created"), "nothing moves while the broker is down");
        broker.SetUp();

        await AllTerminalAsync(host, [.. before, .. during], TimeSpan.FromSeconds(90));
        await host.AssertInvariantsEventuallyHoldAsync();
    }

    [Test]
    public async Task Flow_WhenEveryRequestTakesLonger_StillFinishesEveryOrder()
    {
        await using var host = await TestHost.StartAsync();
        host.Broker!.SetRoundTripTime(TimeSpan.FromMilliseconds(150));

        var ids = await PlaceAsync(host, Orders);

        await AllTerminalAsync(host, ids, TimeSpan.FromSeconds(60));
        await host.AssertInvariantsEventuallyHoldAsync();
    }

    private static async Task<List<string>> PlaceAsync(TestHost host, int count)
    {
        var ids = new List<string>(count);
        for (var i = 0; i < count; i++)
            ids.Add(await host.PlaceOrderAsync($"USER-{i % 7}", ("PROD-001", 1 + i % 3, 10m), ("PROD-002", 1, i % 5 == 0 ? 20_000m : 3m)));
        return ids;
    }

    private static async Task AllTerminalAsync(TestHost host, IEnumerable<string> ids, TimeSpan? timeout = null)
    {
        foreach (var id in ids)
            await Eventually.Until(async () => (await host.GetOrderAsync(id)).GetProperty("is_terminal").GetBoolean(), $"order {id} terminal", timeout ?? TimeSpan.FromSeconds(45));
    }
}
