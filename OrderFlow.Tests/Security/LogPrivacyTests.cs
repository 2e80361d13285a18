using System.Net;
using System.Text;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OrderFlow.Contracts;
using OrderFlow.Host.Cli;
using OrderFlow.Messaging;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.Security;

/// <summary>
/// Logs hold no secrets and no personal data: a real flow runs with every category at Trace,
/// every entry (message, structured values, scopes, exceptions) is captured, and none may carry
/// the API key, a rejected key, the user id or the shipping address.
/// </summary>
[TestFixture]
public sealed class LogPrivacyTests
{
    private const string UserId = "USER-PRIVATE-4711";
    private const string RejectedKey = "almost-the-key-but-not-9d1e";
    private static readonly ShippingAddress Address = new("221B Baker Street", "Marylebone", "NW1 6XE", "GB");

    [Test]
    public async Task Logs_OfARealFlowAtTraceLevel_CarryNoKeyUserIdOrAddress()
    {
        var logs = new CapturedLogs();
        await using var host = await TestHost.StartAsync(new Dictionary<string, string?>
        {
            ["Logging:LogLevel:Default"] = "Trace",
            ["Logging:LogLevel:OrderFlow"] = "Trace",
            ["Logging:LogLevel:Microsoft"] = "Trace",
            ["Logging:LogLevel:Microsoft.AspNetCore"] = "Trace",
            ["Logging:LogLevel:Microsoft.EntityFrameworkCore"] = "Trace",
            ["Logging:LogLevel:Microsoft.Hosting.Lifetime"] = "Trace",
            ["Logging:Console:LogLevel:Default"] = "Warning",
        }, logs: logs);

        // Over HTTP: an order to completion, a wrong key, a read.
        var orderId = await host.PlaceOrderAsync(UserId, ("PROD-001", 2, 19.99m));
        await host.WaitForStatusAsync(orderId, "Completed");
        using (var stranger = new HttpClient { BaseAddress = host.Http.BaseAddress })
        {
            stranger.DefaultRequestHeaders.Add("X-Api-Key", RejectedKey);
            Assert.That((await stranger.GetAsync($"/orders/{orderId}")).StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        }
        Assert.That((await host.GetOrderAsync(orderId)).GetProperty("user_id").GetString(), Is.EqualTo(UserId));

        // Over Kafka: OrderCreated v2 with a shipping address from another producer, once valid
        // (inventory and payment apply it; Orders, which never created it, dead-letters the
        // results) and once invalid and once truncated (dead-lettered at once).
        var valid = V2Order(quantity: 1);
        var invalid = V2Order(quantity: 0);
        var truncated = V2Order(quantity: 1);
        await ProduceAsync(host, valid, EventJson.Serialize(valid));
        await ProduceAsync(host, invalid, EventJson.Serialize(invalid));
        await ProduceAsync(host, truncated, EventJson.Serialize(truncated)[..120]);
        await Eventually.Until(() => DeadLetteredOrders(host).IsSupersetOf([valid.OrderId, invalid.OrderId, truncated.OrderId]),
            "the v2 events and their results to be dead-lettered");

        var entries = logs.Entries;
        var secrets = new[] { TestHost.ApiKey, RejectedKey, UserId, Address.Line1, Address.PostalCode, Address.City };
        var leaks = entries.SelectMany(e => secrets.Where(s => e.Text.Contains(s, StringComparison.OrdinalIgnoreCase)).Select(s => $"'{s}' in {e.Category}: {e.Text}")).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(leaks, Is.Empty, string.Join(Environment.NewLine, leaks.Take(10)));
            Assert.That(entries, Has.Count.GreaterThan(200), "every level was captured");
            Assert.That(entries.Select(e => e.Text), Has.Some.Contains(LogMask.UserId(UserId)), "the order was logged, with the user masked");
            Assert.That(entries.Select(e => e.Text), Has.Some.Contains("wrong API key"), "the refusal was logged, without the key");
            Assert.That(entries.Where(e => e.Text.Contains("Dead-lettered", StringComparison.Ordinal)), Is.Not.Empty, "the dead letters were logged");
        });
    }

    [Test]
    public void UserId_WhenMasked_GivesTheSamePseudonymForTheSameUserAndNeverTheId()
    {
        var first = LogMask.UserId("USER-001");

        Assert.That(LogMask.UserId("USER-001"), Is.EqualTo(first));
        Assert.That(LogMask.UserId("USER-002"), Is.Not.EqualTo(first));
        Assert.That(first, Does.Not.Contain("USER").And.Not.Contain("001").And.Match("^user#[0-9a-f]{10}$"));
    }

    [TestCase("DE", "*** (DE)")]
    [TestCase("gb", "*** (GB)")]
    [TestCase("Germany", "***")]
    [TestCase("D\nE", "***")]
    public void Address_WhenMasked_KeepsOnlyAWellFormedCountry(string country, string expected)
    {
        Assert.That(LogMask.Address(new ShippingAddress("1 Main St", "Springfield", "12345", country)), Is.EqualTo(expected));
    }

    private static OrderCreated V2Order(int quantity) => Builders.AnOrderCreated().ForUser(UserId).WithItem("PROD-002", quantity, 5m).Build() with
    {
        EventVersion = 2,
        Currency = "GBP",
        ShippingAddress = Address,
    };

    private static async Task ProduceAsync(TestHost host, OrderCreated evt, byte[] payload)
    {
        using var producer = new ProducerBuilder<byte[]?, byte[]?>(new ProducerConfig { BootstrapServers = host.Broker!.BootstrapServers }).Build();
        var headers = new Headers
        {
            { HeaderNames.EventType, Encoding.UTF8.GetBytes(nameof(OrderCreated)) },
            { HeaderNames.EventVersion, "2"u8.ToArray() },
            { HeaderNames.EventId, Encoding.UTF8.GetBytes(evt.EventId) },
        };
        await producer.ProduceAsync(Topics.OrderEvents, new Message<byte[]?, byte[]?> { Key = Encoding.UTF8.GetBytes(evt.OrderId), Value = payload, Headers = headers });
    }

    private static HashSet<string> DeadLetteredOrders(TestHost host)
    {
        var clients = new KafkaClientFactory(Options.Create(new KafkaOptions { BootstrapServers = host.Broker!.BootstrapServers, UsingEmbeddedBroker = true }));
        return DlqCommand.Read(clients, DlqCommand.DlqTopics(TopicLayout.Default, null), CancellationToken.None)
            .Select(l => l.Message.Key is null ? "" : Encoding.UTF8.GetString(l.Message.Key)).ToHashSet();
    }
}
