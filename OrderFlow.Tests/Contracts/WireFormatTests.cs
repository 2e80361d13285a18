using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using OrderFlow.Contracts;
using OrderFlow.Messaging;
using OrderFlow.Orders.Data;
using OrderFlow.Persistence;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.Contracts;

/// <summary>
/// Golden tests of the wire format of SPEC §3 and of docs/asyncapi.yaml, which describes it.
/// </summary>
public sealed class WireFormatTests
{
    private const string TraceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    private const string TraceParent = "00-" + TraceId + "-00f067aa0ba902b7-01";
    private static readonly DateTime At = new(2025, 11, 6, 10, 30, 0, DateTimeKind.Utc);

    // The three events of SPEC §3, extended with the fields every event carries, placed where
    // EventJson writes them (after timestamp, by JsonPropertyOrder on IntegrationEvent).
    private const string SpecOrderCreated =
        """{"event_type":"OrderCreated","order_id":"ORD-123456","user_id":"USER-001","items":[{"product_id":"PROD-001","quantity":2,"price":99.99}],"total_amount":199.98,"timestamp":"2025-11-06T10:30:00Z","event_id":"019a5a3c8c0e7b3e9f1d2a4b5c6d7e8f","event_version":1,"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}""";
    private const string SpecInventoryReserved =
        """{"event_type":"InventoryReserved","order_id":"ORD-123456","reservation_id":"RSV-789","status":"success","timestamp":"2025-11-06T10:30:01Z","event_id":"019a5a3c8c0e7b3e9f1d2a4b5c6d7e91","event_version":1,"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}""";
    private const string SpecPaymentCompleted =
        """{"event_type":"PaymentCompleted","order_id":"ORD-123456","payment_id":"PAY-456","status":"success","amount":199.98,"timestamp":"2025-11-06T10:30:02Z","event_id":"019a5a3c8c0e7b3e9f1d2a4b5c6d7e92","event_version":1,"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}""";

    private static IEnumerable<TestCaseData> SpecEvents()
    {
        yield return new TestCaseData(typeof(OrderCreated), SpecOrderCreated).SetArgDisplayNames(nameof(OrderCreated));
        yield return new TestCaseData(typeof(InventoryReserved), SpecInventoryReserved).SetArgDisplayNames(nameof(InventoryReserved));
        yield return new TestCaseData(typeof(PaymentCompleted), SpecPaymentCompleted).SetArgDisplayNames(nameof(PaymentCompleted));
    }

    [TestCaseSource(nameof(SpecEvents))]
    public void Serialize_WhenSpecEventIsReadBack_WritesTheSameBytes(Type type, string json)
    {
        var evt = EventJson.Deserialize(Encoding.UTF8.GetBytes(json), type);

        // Compared as text for a readable diff; the JSON is ASCII, so this is a byte-for-byte comparison.
        Assert.That(Encoding.UTF8.GetString(EventJson.Serialize(evt)), Is.EqualTo(json));
    }

    [Test]
    public void Deserialize_WhenSpecOrderCreatedIsRead_KeepsItsMeaning()
    {
        var evt = EventJson.Deserialize<OrderCreated>(Encoding.UTF8.GetBytes(SpecOrderCreated));

        using (Assert.EnterMultipleScope())
        {
            Assert.That(evt.OrderId, Is.EqualTo("ORD-123456"));
            Assert.That(evt.UserId, Is.EqualTo("USER-001"));
            Assert.That(evt.Items, Is.EqualTo(new[] { new OrderItem("PROD-001", 2, 99.99m) }));
            Assert.That(evt.TotalAmount, Is.EqualTo(199.98m));
            Assert.That(evt.Timestamp, Is.EqualTo(At));
            Assert.That(evt.Timestamp.Kind, Is.EqualTo(DateTimeKind.Utc));
            Assert.That(evt.EventId, Is.EqualTo("019a5a3c8c0e7b3e9f1d2a4b5c6d7e8f"));
            Assert.That(evt.EventVersion, Is.EqualTo(1));
            Assert.That(evt.TraceId, Is.EqualTo(TraceId));
        }
    }

    [TestCase("2025-11-06T12:30:00+02:00")]
    [TestCase("2025-11-06T05:30:00-05:00")]
    [TestCase("2025-11-06T10:30:00")]
    [TestCase("2025-11-06T10:30:00Z")]
    [TestCase("2025-11-06T10:30:00.0000000Z")]
    [TestCase("2025-11-06T10:30:00.000\\u005A")]
    public void Deserialize_WhenTimestampHasAnOffsetOrNone_ReadsItAsUtc(string timestamp)
    {
        var json = SpecInventoryReserved.Replace("2025-11-06T10:30:01Z", timestamp, StringComparison.Ordinal);

        var evt = EventJson.Deserialize<InventoryReserved>(Encoding.UTF8.GetBytes(json));

        using (Assert.EnterMultipleScope())
        {
            Assert.That(evt.Timestamp, Is.EqualTo(At));
            // DateTime equality ignores Kind, and a Local or Unspecified value would shift on the next write.
            Assert.That(evt.Timestamp.Kind, Is.EqualTo(DateTimeKind.Utc));
            Assert.That(Encoding.UTF8.GetString(EventJson.Serialize(evt)), Does.Contain("\"timestamp\":\"2025-11-06T10:30:00Z\""));
        }
    }

    [Test]
    public void Serialize_WhenTimestampHasAFraction_WritesItWithoutTrailingZeros()
    {
        var evt = Sample(nameof(InventoryReserved)) with { Timestamp = At.AddMilliseconds(250) };

        Assert.That(Encoding.UTF8.GetString(EventJson.Serialize(evt)), Does.Contain("\"timestamp\":\"2025-11-06T10:30:00.25Z\""));
    }

    [Test]
    public void Serialize_AnyTimestamp_WritesTheUtcTimeTrimmedWithAZ()
    {
        var random = new Random(7);
        var values = new List<DateTime> { At, At.AddTicks(1), At.AddTicks(1_000_000), At.AddTicks(9_999_999), DateTime.MinValue.AddTicks(1), new DateTime(9999, 12, 31, 23, 59, 59, DateTimeKind.Utc) };
        for (var i = 0; i < 200; i++) values.Add(new DateTime(random.NextInt64(DateTime.UnixEpoch.Ticks, DateTime.UnixEpoch.Ticks + TimeSpan.TicksPerDay * 36_500), DateTimeKind.Utc));
        for (var i = 0; i < 20; i++) values.Add(new DateTime(At.Ticks + random.NextInt64(TimeSpan.TicksPerDay), i % 2 == 0 ? DateTimeKind.Local : DateTimeKind.Unspecified));

        foreach (var value in values)
        {
            // The form of the original design: UTC (a Local value converted, an Unspecified one taken as UTC), the fraction's trailing zeros trimmed.
            var utc = value.Kind == DateTimeKind.Local ? value.ToUniversalTime() : DateTime.SpecifyKind(value, DateTimeKind.Utc);
            var expected = utc.ToString(utc.Ticks % TimeSpan.TicksPerSecond == 0 ? "yyyy-MM-dd'T'HH:mm:ss'Z'" : "yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", System.Globalization.CultureInfo.InvariantCulture);
            var evt = Sample(nameof(InventoryReserved)) with { Timestamp = value };

            Assert.That(Encoding.UTF8.GetString(EventJson.Serialize(evt)), Does.Contain($"\"timestamp\":\"{expected}\""), $"{value:O} ({value.Kind})");
        }
    }

    [Test]
    public void Deserialize_WhenPayloadHasFieldsItDoesNotKnow_IgnoresThem()
    {
        var json = SpecPaymentCompleted.Replace("\"amount\":", "\"card\":{\"last4\":\"4242\"},\"amount\":", StringComparison.Ordinal);

        var evt = EventJson.Deserialize<PaymentCompleted>(Encoding.UTF8.GetBytes(json));

        Assert.That(Encoding.UTF8.GetString(EventJson.Serialize(evt)), Is.EqualTo(SpecPaymentCompleted));
    }

    // dotnet/runtime#84484: source-generated metadata used to assign absent init-only properties
    // default(T), losing the records' defaults; the contracts use setters for defaulted fields.
    [Test]
    public void Deserialize_WhenEventVersionIdAndStatusAreAbsent_UsesTheRecordDefaults()
    {
        const string json =
            """{"event_type":"InventoryReserved","order_id":"ORD-123456","reservation_id":"RSV-789","timestamp":"2025-11-06T10:30:01Z"}""";

        var evt = EventJson.Deserialize<InventoryReserved>(Encoding.UTF8.GetBytes(json));

        using (Assert.EnterMultipleScope())
        {
            Assert.That(evt.EventVersion, Is.EqualTo(1));
            Assert.That(evt.Status, Is.EqualTo("success"));
            Assert.That(evt.EventId, Is.Not.Null.And.Not.Empty);
        }
    }

    // The id is made on first read, not at construction (a deserialized event would only overwrite it).
    [Test]
    public void EventId_WhenNoneWasSet_IsMadeOnceAndCarriedByCopies()
    {
        var evt = new OrderCancelled { OrderId = "ORD-1", Reason = "user_cancelled", Timestamp = DateTime.UtcNow };
        var other = new OrderCancelled
        {
            OrderId = "ORD-2", Reason = "timed_out", Timestamp = evt.Timestamp.AddSeconds(1), EventVersion = 2, TraceId = "4bf92f3577b34da6a3ce929d0e0e4736",
        };

        var copyBeforeRead = evt with { TraceId = "0af7651916cd43dd8448eb211c80319c" };
        var first = evt.EventId;
        var copyAfterRead = other with { };
        using (Assert.EnterMultipleScope())
        {
            Assert.That(first, Has.Length.EqualTo(32));
            Assert.That(evt.EventId, Is.SameAs(first), "a second read gives the same id");
            Assert.That(copyBeforeRead.EventId, Is.SameAs(first), "a copy made before the first read is the same event");
            Assert.That(other.EventId, Is.Not.EqualTo(first), "another event has another id");
            Assert.That(copyAfterRead, Is.EqualTo(other), "a copy carries every field of the event");
        }
    }

    private static IEnumerable<string> CatalogEventTypes() => EventCatalog.Types.Keys;

    [TestCaseSource(nameof(CatalogEventTypes))]
    public void Serialize_WhenAnyCatalogEvent_WritesTheFieldsEveryEventCarries(string eventType)
    {
        var evt = Sample(eventType);
        Assert.That(evt.GetType(), Is.EqualTo(EventCatalog.Types[eventType]));

        using var json = JsonDocument.Parse(EventJson.Serialize(evt));
        var root = json.RootElement;

        Assert.That(root.EnumerateObject().Select(p => p.Name),
            Is.SupersetOf(new[] { "event_type", "event_id", "event_version", "order_id", "timestamp" }));
        using (Assert.EnterMultipleScope())
        {
            Assert.That(root.GetProperty("event_type").GetString(), Is.EqualTo(eventType));
            Assert.That(root.GetProperty("event_id").GetString(), Is.EqualTo(evt.EventId).And.Not.Empty);
            Assert.That(root.GetProperty("event_version").ValueKind, Is.EqualTo(JsonValueKind.Number));
            Assert.That(root.GetProperty("event_version").GetInt32(), Is.EqualTo(1));
            Assert.That(root.GetProperty("order_id").GetString(), Is.EqualTo("ORD-123456"));
            Assert.That(root.GetProperty("timestamp").GetString(), Is.EqualTo("2025-11-06T10:30:00Z"));
        }
    }

    [Test]
    public async Task EventHeaders_WhenOutboxRowIsRelayed_CarriesTypeVersionIdAndTraceParent()
    {
        // Outbox prefers the ambient activity's trace; this test is about the traceparent it is given.
        Activity.Current = null;
        using var store = InMemoryStore.Orders();
        var evt = OrderCreatedV2();
        await store.ReadAsync(db =>
        {
            new Outbox(db, TraceParent, At).Add(evt);
            return db.SaveChangesAsync();
        });
        await using var db = store.NewContext();
        var (rows, _) = await InboxOutboxWriter.PendingAsync(db, 0, 10, CancellationToken.None);

        var headers = OutboxRelay<OrdersDbContext>.EventHeaders(rows.Single());

        Assert.That(headers.Select(h => h.Key), Is.EquivalentTo(new[]
        {
            HeaderNames.EventType, HeaderNames.EventVersion, HeaderNames.EventId, HeaderNames.TraceParent,
        }));
        using (Assert.EnterMultipleScope())
        {
            Assert.That(headers.GetString(HeaderNames.EventType), Is.EqualTo("OrderCreated"));
            Assert.That(headers.GetString(HeaderNames.EventVersion), Is.EqualTo("2"));
            Assert.That(headers.GetString(HeaderNames.EventId), Is.EqualTo(evt.EventId));
            Assert.That(headers.GetString(HeaderNames.TraceParent), Is.EqualTo(TraceParent));
        }
    }

    [Test]
    public void EventHeaders_WhenRowHasNoTraceParent_LeavesTheHeaderOut()
    {
        var row = new PendingOutboxRow
        {
            EventId = "019a5a3c8c0e7b3e9f1d2a4b5c6d7e8f"u8.ToArray(), EventType = "OrderCancelled"u8.ToArray(), EventVersion = 1,
            Topic = Topics.OrderEvents, Key = "ORD-123456"u8.ToArray(), Payload = [], TraceParent = null,
        };

        var headers = OutboxRelay<OrdersDbContext>.EventHeaders(row);

        Assert.That(headers.Select(h => h.Key), Is.EquivalentTo(new[] { HeaderNames.EventType, HeaderNames.EventVersion, HeaderNames.EventId }));
    }

    [Test]
    public void Add_WhenEventHasNoTraceId_WritesTheTraceIdOfItsTraceParent()
    {
        Activity.Current = null;
        using var db = NewOrdersDbContext();
        var outbox = new Outbox(db, TraceParent, At);

        outbox.Add(Sample(nameof(OrderCancelled)) with { TraceId = null });

        var row = db.OutboxMessages.Local.Single();
        using var payload = JsonDocument.Parse(row.Payload);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(payload.RootElement.GetProperty("trace_id").GetString(), Is.EqualTo(TraceId));
            Assert.That(row.TraceParent, Is.EqualTo(TraceParent));
            Assert.That(row.Key, Is.EqualTo("ORD-123456"));
            Assert.That(row.Topic, Is.EqualTo(Topics.OrderEvents));
        }
    }

    [Test]
    public void Add_WhenAnUnrelatedActivityIsCurrent_KeepsTheOrdersTrace()
    {
        using var activity = new Activity("an-http-request").SetIdFormat(ActivityIdFormat.W3C).Start();
        using var db = NewOrdersDbContext();
        var outbox = new Outbox(db, TraceParent, At);

        outbox.Add(Sample(nameof(OrderCancelled)) with { TraceId = null });

        var row = db.OutboxMessages.Local.Single();
        using var payload = JsonDocument.Parse(row.Payload);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(row.TraceParent, Is.EqualTo(TraceParent));
            Assert.That(payload.RootElement.GetProperty("trace_id").GetString(), Is.EqualTo(Tracing.TraceIdOf(TraceParent)));
        }
    }

    [Test]
    public void Add_WhenASpanOfTheOrdersTraceIsCurrent_PointsTheRowAtThatSpan()
    {
        using var activity = new Activity("handling").SetIdFormat(ActivityIdFormat.W3C).SetParentId(TraceParent).Start();
        using var db = NewOrdersDbContext();
        var outbox = new Outbox(db, TraceParent, At);

        outbox.Add(Sample(nameof(OrderCancelled)) with { TraceId = null });

        var row = db.OutboxMessages.Local.Single();
        Assert.That(row.TraceParent, Is.EqualTo(activity.Id));
        Assert.That(Tracing.TraceIdOf(row.TraceParent!), Is.EqualTo(Tracing.TraceIdOf(TraceParent)));
    }

    [TestCaseSource(nameof(CatalogEventTypes))]
    public void AsyncApi_WhenReadFromDocs_NamesEveryCatalogEvent(string eventType)
    {
        Assert.That(YamlValues(AsyncApi.Value, "name"), Does.Contain(eventType), "message names in docs/asyncapi.yaml");
    }

    private static IEnumerable<string> AllTopics() => TopicLayout.Default.All;

    [TestCaseSource(nameof(AllTopics))]
    public void AsyncApi_WhenReadFromDocs_NamesEveryTopic(string topic)
    {
        Assert.That(YamlValues(AsyncApi.Value, "address"), Does.Contain(topic), "channel addresses in docs/asyncapi.yaml");
    }

    private static IEnumerable<TestCaseData> PayloadSchemas()
    {
        foreach (var eventType in EventCatalog.Types.Keys.Where(t => t != nameof(OrderCreated)))
            yield return new TestCaseData(eventType, Sample(eventType)).SetArgDisplayNames(eventType);
        yield return new TestCaseData("OrderCreatedV1", Sample(nameof(OrderCreated))).SetArgDisplayNames("OrderCreatedV1");
        yield return new TestCaseData("OrderCreatedV2", OrderCreatedV2()).SetArgDisplayNames("OrderCreatedV2");
    }

    [TestCaseSource(nameof(PayloadSchemas))]
    public void AsyncApi_WhenComparedWithTheSerializer_ListsEveryPayloadFieldInOrder(string schema, IntegrationEvent sample)
    {
        using var json = JsonDocument.Parse(EventJson.Serialize(sample));

        Assert.That(SchemaPropertyNames(AsyncApi.Value, schema), Is.EqualTo(json.RootElement.EnumerateObject().Select(p => p.Name).ToList()),
            $"components.schemas.{schema}.properties in docs/asyncapi.yaml differ from what EventJson writes");
    }

    /// <summary>One event of each catalogue type, every optional field set, so every field is on the wire.</summary>
    private static IntegrationEvent Sample(string eventType) => eventType switch
    {
        nameof(OrderCreated) => new OrderCreated
        {
            OrderId = "ORD-123456", UserId = "USER-001", Items = [new OrderItem("PROD-001", 2, 99.99m)], TotalAmount = 199.98m,
            Timestamp = At, TraceId = TraceId,
        },
        nameof(OrderStatusChanged) => new OrderStatusChanged
        {
            OrderId = "ORD-123456", UserId = "USER-001", PreviousStatus = "Created", Status = "Rejected", Reason = "unknown_product",
            TotalAmount = 199.98m, IsTerminal = true, Timestamp = At, TraceId = TraceId,
        },
        nameof(OrderCancelled) => new OrderCancelled { OrderId = "ORD-123456", Reason = "user_cancelled", Timestamp = At, TraceId = TraceId },
        nameof(InventoryReserved) => new InventoryReserved { OrderId = "ORD-123456", ReservationId = "RSV-789", Timestamp = At, TraceId = TraceId },
        nameof(InventoryReservationFailed) => new InventoryReservationFailed
        {
            OrderId = "ORD-123456", Reason = "insufficient_stock", ProductId = "PROD-LIMITED", Timestamp = At, TraceId = TraceId,
        },
        nameof(InventoryReleased) => new InventoryReleased { OrderId = "ORD-123456", ReservationId = "RSV-789", Reason = "payment_failed", Timestamp = At, TraceId = TraceId },
        nameof(PaymentCompleted) => new PaymentCompleted { OrderId = "ORD-123456", PaymentId = "PAY-456", Amount = 199.98m, Timestamp = At, TraceId = TraceId },
        nameof(PaymentFailed) => new PaymentFailed { OrderId = "ORD-123456", Amount = 199.98m, Reason = "card_declined", Timestamp = At, TraceId = TraceId },
        nameof(PaymentRefunded) => new PaymentRefunded
        {
            OrderId = "ORD-123456", PaymentId = "PAY-456", Amount = 199.98m, Reason = "user_cancelled", Timestamp = At, TraceId = TraceId,
        },
        nameof(NotificationSent) => new NotificationSent
        {
            OrderId = "ORD-123456", NotificationId = "NTF-1", UserId = "USER-001", Outcome = "Completed",
            Message = "Your order ORD-123456 is confirmed.", Timestamp = At, TraceId = TraceId,
        },
        _ => throw new ArgumentOutOfRangeException(nameof(eventType), eventType, "a new catalogue event needs a sample here and a schema in docs/asyncapi.yaml"),
    };

    private static OrderCreated OrderCreatedV2() => (OrderCreated)Sample(nameof(OrderCreated)) with
    {
        EventVersion = 2,
        Currency = "EUR",
        ShippingAddress = new ShippingAddress("1 Main Street", "Berlin", "10115", "DE"),
    };

    // Adding outbox rows only tracks them, so the context never needs to open its connection.
    private static OrdersDbContext NewOrdersDbContext() =>
        new(new DbContextOptionsBuilder<OrdersDbContext>().UseSqlite("Data Source=:memory:").Options);

    private static readonly Lazy<string> AsyncApi = new(() => File.ReadAllText(Path.Combine(RepositoryRoot(), "docs", "asyncapi.yaml")));

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(TestContext.CurrentContext.TestDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "OrderFlow.sln"))) return dir.FullName;
        throw new DirectoryNotFoundException($"no OrderFlow.sln above {TestContext.CurrentContext.TestDirectory}");
    }

    private static List<string> YamlValues(string yaml, string key) =>
        Regex.Matches(yaml, $@"(?m)^\s+{key}: (\S+)\r?$").Select(m => m.Groups[1].Value).ToList();

    /// <summary>
    /// The property names of <c>components.schemas.&lt;schema&gt;</c>, in document order. A reader of
    /// just the layout docs/asyncapi.yaml uses (two-space indents), so the tests need no YAML package.
    /// </summary>
    private static List<string> SchemaPropertyNames(string yaml, string schema)
    {
        var lines = yaml.ReplaceLineEndings("\n").Split('\n');
        var schemas = Array.IndexOf(lines, "  schemas:");
        var start = schemas < 0 ? -1 : Array.IndexOf(lines, $"    {schema}:", schemas);
        var properties = start < 0 ? -1 : Array.IndexOf(lines, "      properties:", start);
        Assert.That(properties, Is.GreaterThan(0), $"docs/asyncapi.yaml has no components.schemas.{schema}.properties");

        var names = new List<string>();
        foreach (var line in lines.Skip(properties + 1))
        {
            if (line.Trim().Length == 0) continue;
            var indent = line.Length - line.TrimStart().Length;
            if (indent <= 6) break;
            if (indent == 8) names.Add(line.Trim().TrimEnd(':'));
        }
        return names;
    }
}
