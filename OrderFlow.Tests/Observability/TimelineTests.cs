using System.Net;
using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using OrderFlow.Contracts;
using OrderFlow.Messaging;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.Observability;

/// <summary><c>GET /orders/{id}/timeline</c>: the one place that answers "where is my order?".</summary>
[TestFixture]
public sealed class TimelineTests
{
    private TestHost host = null!;

    [OneTimeSetUp]
    public async Task Start() => host = await TestHost.StartAsync();

    [OneTimeTearDown]
    public async Task Stop() => await host.DisposeAsync();

    [Test]
    public async Task Timeline_WhenAnOrderCompletes_ListsEveryTransitionAndWhatEachModuleApplied()
    {
        var orderId = await host.PlaceOrderAsync("USER-1", ("PROD-001", 2, 10m));
        var order = await host.WaitForStatusAsync(orderId, "Completed");

        var timeline = await Eventually.Value(() => host.GetJsonAsync($"/orders/{orderId}/timeline"),
            t => Entries(t).Any(e => e.Module == "notification" && e.Kind == "applied"), "the notification module's inbox row");
        var entries = Entries(timeline);

        Assert.That(timeline.GetProperty("trace_id").GetString(), Is.EqualTo(order.GetProperty("trace_id").GetString()));
        Assert.That(timeline.GetProperty("status").GetString(), Is.EqualTo("Completed"));
        Assert.That(timeline.GetProperty("duration_seconds").GetDouble(), Is.GreaterThan(0));
        // PaymentCompleted may overtake InventoryReserved (separate topics); the history then notes
        // the reservation as "implied by payment". Either way the four transitions are listed.
        Assert.That(entries.Where(e => e.Kind == "transition").Select(e => e.Summary.Replace(" (implied by payment)", "", StringComparison.Ordinal)),
            Is.EqualTo(new[] { "Created", "Created → InventoryReserved", "InventoryReserved → Paid", "Paid → Completed" }));
        Assert.That(entries.Where(e => e.Kind == "applied").Select(e => $"{e.Module}:{e.EventType}"), Is.EquivalentTo(new[]
        {
            "inventory:OrderCreated", "payment:OrderCreated", "payment:InventoryReserved",
            "orders:InventoryReserved", "orders:PaymentCompleted", "notification:OrderStatusChanged",
        }));
        Assert.That(entries.Where(e => e.Kind == "applied").Select(e => e.Topic), Has.None.Null);
        Assert.That(entries.Where(e => e.Kind == "effect").Select(e => e.Module), Is.EquivalentTo(new[] { "inventory", "payment", "notification" }));
        Assert.That(entries.Select(e => e.At), Is.Ordered);
        Assert.That(timeline.GetProperty("dead_letters_checked").GetBoolean(), Is.True);
    }

    [Test]
    public async Task Timeline_WhenAChargeIsRetriedAndAMessageDeadLettered_ShowsTheFailedAttemptsAndTheDeadLetter()
    {
        var (seed, rate) = SeedWhoseFirstTwoDrawsFail();
        await using var failing = await TestHost.StartAsync(new Dictionary<string, string?>
        {
            ["OrderFlow:Modules:Payment:Seed"] = seed.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["OrderFlow:Modules:Payment:TransientErrorRate"] = rate.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["OrderFlow:Messaging:MaxAttempts"] = "10",
        });
        var orderId = await failing.PlaceOrderAsync("USER-2", ("PROD-001", 1, 10m));
        await failing.WaitForStatusAsync(orderId, "Completed");

        using (var producer = new ProducerBuilder<byte[], byte[]>(failing.Service<KafkaClientFactory>().ProducerConfig()).Build())
        {
            await producer.ProduceAsync(Topics.InventoryEvents, new Message<byte[], byte[]>
            {
                Key = Encoding.UTF8.GetBytes(orderId),
                Value = Encoding.UTF8.GetBytes("{\"event_type\":\"InventoryReleased\",\"order_id\":"),
                Headers = new Headers { { HeaderNames.EventType, Encoding.UTF8.GetBytes("InventoryReleased") } },
            });
        }
        var timeline = await Eventually.Value(() => failing.GetJsonAsync($"/orders/{orderId}/timeline"),
            t => Entries(t).Any(e => e.Kind == "dead_letter"), "the dead letter in the timeline");
        var entries = Entries(timeline);

        var retries = entries.Where(e => e.Kind == "retry").ToList();
        Assert.That(retries, Is.Not.Empty);
        Assert.That(retries.Select(e => e.Module), Is.All.EqualTo("payment"));
        Assert.That(retries.Select(e => e.Error), Is.All.Contains("gateway timeout"));
        var letter = entries.Single(e => e.Kind == "dead_letter");
        Assert.That(letter.Module, Is.EqualTo("orders"));
        Assert.That(letter.EventType, Is.EqualTo("InventoryReleased"));
        Assert.That(letter.Topic, Is.EqualTo(Topics.InventoryEvents));
        Assert.That(letter.Error, Does.Contain("malformed"));
        Assert.That(timeline.GetProperty("dead_letters_checked").GetBoolean(), Is.True, "read back from inventory-events.dlq");
    }

    [Test]
    public async Task Timeline_WhenTheOrderIsUnknown_Returns404ProblemDetails()
    {
        var response = await host.Http.GetAsync("/orders/ORD-NOPE/timeline");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That(response.Content.Headers.ContentType!.MediaType, Is.EqualTo("application/problem+json"));
    }

    /// <summary>
    /// A seed and a transient-error rate under which the gateway's first two calls fail and the
    /// third succeeds: whether the first call is made for a batch or for the message alone, the
    /// message itself then fails at least once before it is applied.
    /// </summary>
    private static (int Seed, double Rate) SeedWhoseFirstTwoDrawsFail()
    {
        for (var seed = 1; ; seed++)
        {
            var random = new Random(seed);
            var (first, second, third) = (random.NextDouble(), random.NextDouble(), random.NextDouble());
            var failing = Math.Max(first, second);
            if (third - failing > 0.2) return (seed, (failing + third) / 2);
        }
    }

    private sealed record Entry(DateTime At, string Module, string Kind, string Summary, string? EventType, string? Topic, string? Error);

    private static List<Entry> Entries(JsonElement timeline) => timeline.GetProperty("entries").EnumerateArray().Select(e => new Entry(
        e.GetProperty("at").GetDateTime(), e.GetProperty("module").GetString()!, e.GetProperty("kind").GetString()!, e.GetProperty("summary").GetString()!,
        e.TryGetProperty("event_type", out var t) ? t.GetString() : null,
        e.TryGetProperty("topic", out var topic) ? topic.GetString() : null,
        e.TryGetProperty("error", out var error) ? error.GetString() : null)).ToList();
}
