using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using OrderFlow.Contracts;
using OrderFlow.Messaging;

namespace OrderFlow.Tests.Security;

/// <summary>What the consumer must do with a generated message.</summary>
public enum Expect
{
    /// <summary>A valid event: applied once, never dead-lettered.</summary>
    Applied,

    /// <summary>Can never be applied: lands in the dead-letter topic.</summary>
    DeadLettered,

    /// <summary>Type-valid but odd (boundary values, duplicate fields): one of the two, never both, never neither.</summary>
    AppliedOrDeadLettered,

    /// <summary>A known event this module does not handle: skipped, neither applied nor dead-lettered.</summary>
    Ignored,
}

public sealed record HostileMessage(string Kind, byte[]? Key, byte[]? Value, IReadOnlyList<(string Name, byte[]? Value)> Headers, Expect Expect);

/// <summary>
/// A seeded generator of what a hostile or broken producer can put on a topic the probe consumes
/// (OrderCreated v1/v2): malformed, truncated, oversized, wrong-typed and boundary-valued
/// payloads, hostile headers and keys. The same seed gives the same messages.
/// </summary>
public sealed class HostileMessageGenerator(int seed, int maxMessageBytes)
{
    private static readonly DateTime BaseTime = new(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);
    private readonly Random random = new(seed);

    /// <summary>A valid message with probability <paramref name="validShare"/>, else a hostile one.</summary>
    public HostileMessage Next(double validShare) => random.NextDouble() < validShare ? Valid() : Hostile();

    public HostileMessage Valid()
    {
        var evt = NewEvent();
        return random.Next(6) switch
        {
            0 => Message("valid, no headers at all", evt, Json(evt), [], Expect.Applied),
            1 => Message("valid, garbage traceparent", evt, Json(evt), [.. StandardHeaders(evt).Where(h => h.Name != HeaderNames.TraceParent), (HeaderNames.TraceParent, RandomBytes(random.Next(0, 80)))], Expect.Applied),
            2 => Message("valid, 100 unrelated headers", evt, Json(evt), [.. StandardHeaders(evt), .. Enumerable.Range(0, 100).Select(i => ($"x-junk-{i}", (byte[]?)RandomBytes(random.Next(0, 40))))], Expect.Applied),
            3 => Message("valid, null header values", evt, Json(evt), [(HeaderNames.EventType, null), (HeaderNames.TraceParent, null), (HeaderNames.EventId, null)], Expect.Applied),
            _ => Message("valid", evt, Json(evt), StandardHeaders(evt), Expect.Applied),
        };
    }

    private HostileMessage Hostile() => random.Next(14) switch
    {
        0 => Truncated(),
        1 => RandomPayload(),
        2 => Oversized(),
        3 or 4 => WrongType(),
        5 => Boundary(),
        6 => NotAnObject(),
        7 => DeepNesting(),
        8 => InvalidUtf8(),
        9 => HostileEventTypeHeader(),
        10 => HostileVersion(),
        11 => HostileKey(),
        12 => HostileIds(),
        _ => OddEncoding(),
    };

    private HostileMessage Truncated()
    {
        var evt = NewEvent();
        var json = Json(evt);
        return Message("truncated", evt, json[..random.Next(0, json.Length)], StandardHeaders(evt), Expect.DeadLettered);
    }

    private HostileMessage RandomPayload()
    {
        var evt = NewEvent();
        return Message("random bytes", evt, RandomBytes(random.Next(1, 3000)), StandardHeaders(evt), Expect.DeadLettered);
    }

    private HostileMessage Oversized()
    {
        var evt = NewEvent();
        var node = Node(evt);
        node["padding"] = new string('x', random.Next(maxMessageBytes, maxMessageBytes * 3));
        return Message("oversized", evt, Bytes(node), StandardHeaders(evt), Expect.DeadLettered);
    }

    private static readonly (string Path, bool ValueType, string JsonType)[] Fields =
    [
        ("order_id", false, "string"), ("user_id", false, "string"), ("items", false, "array"), ("items[0]", false, "object"),
        ("items[0].product_id", false, "string"), ("items[0].quantity", true, "number"), ("items[0].price", true, "number"),
        ("total_amount", true, "number"), ("timestamp", true, "string"), ("event_version", true, "number"),
        ("event_id", false, "string"), ("shipping_address", false, "object"), ("currency", false, "string"),
    ];

    /// <summary>
    /// One field replaced by a value of another JSON type. Any other type is refused by the strict
    /// serializer; null is refused for value types and for order_id, but is type-valid for the
    /// reference-typed fields (whether it is applied is up to the module's own checks).
    /// </summary>
    private HostileMessage WrongType()
    {
        var evt = NewEvent(v2: true);
        var node = Node(evt);
        var (path, valueType, jsonType) = Fields[random.Next(Fields.Length)];
        var types = new[] { "null", "number", "string", "true", "object", "array" }.Where(t => t != jsonType).ToArray();
        var replacement = types[random.Next(types.Length)];
        Set(node, path, replacement switch
        {
            "null" => null,
            "number" => random.Next(2) == 0 ? JsonValue.Create(random.Next(int.MinValue, int.MaxValue)) : JsonValue.Create(random.NextDouble() * 1e6),
            "string" => JsonValue.Create(RandomText(random.Next(0, 20))),
            "true" => JsonValue.Create(random.Next(2) == 0),
            "object" => new JsonObject { ["nested"] = 1 },
            _ => new JsonArray(1, "two"),
        });
        var expect = replacement != "null" || valueType || path == "order_id" ? Expect.DeadLettered : Expect.AppliedOrDeadLettered;
        return Message($"wrong type: {path} as {replacement}", evt, Bytes(node), StandardHeaders(evt), expect);
    }

    private HostileMessage Boundary()
    {
        var evt = NewEvent();
        var node = Node(evt);
        var cases = new (string Name, string Path, JsonNode? Value, Expect Expect)[]
        {
            ("quantity int.MaxValue", "items[0].quantity", int.MaxValue, Expect.AppliedOrDeadLettered),
            ("quantity int.MinValue", "items[0].quantity", int.MinValue, Expect.AppliedOrDeadLettered),
            ("quantity 0", "items[0].quantity", 0, Expect.AppliedOrDeadLettered),
            ("quantity int.MaxValue + 1", "items[0].quantity", JsonNode.Parse("2147483648"), Expect.DeadLettered),
            ("quantity 1.5", "items[0].quantity", 1.5, Expect.DeadLettered),
            ("quantity 1e2", "items[0].quantity", JsonNode.Parse("1e2"), Expect.DeadLettered),
            ("price 0", "items[0].price", 0m, Expect.AppliedOrDeadLettered),
            ("price negative", "items[0].price", -0.01m, Expect.AppliedOrDeadLettered),
            ("price decimal.MaxValue", "items[0].price", decimal.MaxValue, Expect.AppliedOrDeadLettered),
            ("price beyond decimal", "items[0].price", JsonNode.Parse("1e29"), Expect.DeadLettered),
            ("price 1e400", "items[0].price", JsonNode.Parse("1e400"), Expect.DeadLettered),
            ("price tiny", "items[0].price", JsonNode.Parse("1e-40"), Expect.AppliedOrDeadLettered),
            ("total decimal.MinValue", "total_amount", decimal.MinValue, Expect.AppliedOrDeadLettered),
            ("timestamp min", "timestamp", "0001-01-01T00:00:00Z", Expect.AppliedOrDeadLettered),
            ("timestamp max", "timestamp", "9999-12-31T23:59:59.9999999Z", Expect.AppliedOrDeadLettered),
            ("timestamp past max", "timestamp", "9999-12-31T23:59:59-05:00", Expect.DeadLettered),
            ("timestamp not a date", "timestamp", "yesterday", Expect.DeadLettered),
            ("timestamp empty", "timestamp", "", Expect.DeadLettered),
            ("no items", "items", new JsonArray(), Expect.AppliedOrDeadLettered),
            ("many items", "items", new JsonArray(Enumerable.Range(0, 150).Select(i => (JsonNode?)new JsonObject { ["product_id"] = $"PROD-{i}", ["quantity"] = 1, ["price"] = 1 }).ToArray()), Expect.AppliedOrDeadLettered),
            ("control characters in user_id", "user_id", "USER\u0000\n\r\u001b[31m", Expect.AppliedOrDeadLettered),
            ("user_id of 10000 characters", "user_id", new string('U', 10_000), Expect.AppliedOrDeadLettered),
        };
        var (name, path, value, expect) = cases[random.Next(cases.Length)];
        Set(node, path, value);
        return Message($"boundary: {name}", evt, Bytes(node), StandardHeaders(evt), expect);
    }

    private HostileMessage NotAnObject()
    {
        var evt = NewEvent();
        string[] bodies = ["null", "[]", "[{}]", "\"OrderCreated\"", "0", "true", "{}", "{\"order_id\":null}", " ", "\t\r\n"];
        return Message("not an event object", evt, Encoding.UTF8.GetBytes(bodies[random.Next(bodies.Length)]), StandardHeaders(evt), Expect.DeadLettered);
    }

    private HostileMessage DeepNesting()
    {
        var evt = NewEvent();
        var depth = random.Next(65, 4_000);
        var json = Encoding.UTF8.GetString(Json(evt));
        var deep = new string('[', depth) + new string(']', depth);
        var payload = json[..^1] + ",\"extra\":" + deep + "}";
        return Message($"nested {depth} deep", evt, Encoding.UTF8.GetBytes(payload), StandardHeaders(evt), Expect.DeadLettered);
    }

    private HostileMessage InvalidUtf8()
    {
        var evt = NewEvent();
        var json = Json(evt);
        return random.Next(4) switch
        {
            0 => Message("invalid UTF-8 in user_id", evt, Replace(json, $"\"{evt.UserId}\"", [(byte)'"', 0x55, 0xFF, 0xFE, (byte)'"']), StandardHeaders(evt), Expect.DeadLettered),
            1 => Message("invalid UTF-8 in event_type, no header", evt, Replace(json, "\"OrderCreated\"", [(byte)'"', 0x4F, 0xC0, 0xAF, (byte)'"']), [], Expect.DeadLettered),
            2 => Message("invalid UTF-8 in event_id, no header", evt, Replace(json, $"\"{evt.EventId}\"", [(byte)'"', 0xED, 0xA0, 0x80, (byte)'"']), [(HeaderNames.EventType, Utf8("OrderCreated"))], Expect.DeadLettered),
            _ => Message("invalid UTF-8 in the event_type header", evt, json, [(HeaderNames.EventType, [0x4F, 0xFF, 0x72])], Expect.DeadLettered),
        };
    }

    private HostileMessage HostileEventTypeHeader()
    {
        var evt = NewEvent();
        var json = Json(evt);
        var others = StandardHeaders(evt).Where(h => h.Name != HeaderNames.EventType).ToList();
        return random.Next(6) switch
        {
            0 => Message("unknown event_type header", evt, json, [(HeaderNames.EventType, Utf8(RandomText(random.Next(1, 300)))), .. others], Expect.DeadLettered),
            1 => Message("empty event_type header", evt, json, [(HeaderNames.EventType, []), .. others], Expect.DeadLettered),
            2 => Message("event_type of another module", evt, json, [(HeaderNames.EventType, Utf8("PaymentCompleted")), .. others], Expect.Ignored),
            3 => Message("event_type header repeated, last unknown", evt, json, [(HeaderNames.EventType, Utf8("OrderCreated")), (HeaderNames.EventType, Utf8("Mystery")), .. others], Expect.DeadLettered),
            4 => Message("event_type header repeated, last known", evt, json, [(HeaderNames.EventType, Utf8("Mystery")), (HeaderNames.EventType, Utf8("OrderCreated")), .. others], Expect.Applied),
            _ => Message("event_type case differs", evt, json, [(HeaderNames.EventType, Utf8("ordercreated")), .. others], Expect.DeadLettered),
        };
    }

    private HostileMessage HostileVersion()
    {
        var evt = NewEvent();
        var others = StandardHeaders(evt).Where(h => h.Name != HeaderNames.EventVersion).ToList();
        string[] garbage = ["", "abc", "1.0", " 1", "1 ", "-1", "+1", "0x1", "99999999999", "٣", "1\u0000", "0", "3", "2147483647"];
        if (random.Next(3) > 0)
        {
            var version = garbage[random.Next(garbage.Length)];
            return Message($"hostile event_version header: '{version}'", evt, Json(evt), [(HeaderNames.EventVersion, Utf8(version)), .. others], Expect.DeadLettered);
        }
        var node = Node(evt);
        node["event_version"] = new[] { 0, -1, 3, int.MaxValue, int.MinValue }[random.Next(5)];
        return Message("unsupported event_version in the payload", evt, Bytes(node), others, Expect.DeadLettered);
    }

    private HostileMessage HostileKey()
    {
        var evt = NewEvent();
        byte[]?[] keys = [null, [], Utf8(evt.OrderId + " "), Utf8(evt.OrderId.ToLowerInvariant()), [.. Utf8(evt.OrderId), 0xFF], RandomBytes(random.Next(1, 100))];
        return new HostileMessage("hostile key", keys[random.Next(keys.Length)], Json(evt), StandardHeaders(evt), Expect.DeadLettered);
    }

    private HostileMessage HostileIds()
    {
        var evt = NewEvent();
        var node = Node(evt);
        switch (random.Next(6))
        {
            case 0:
                var longId = "ORD-" + new string('9', 61);
                node["order_id"] = longId;
                return new HostileMessage("order_id of 65 characters", Utf8(longId), Bytes(node), StandardHeaders(evt), Expect.DeadLettered);
            case 1:
                var edgeId = "ORD-" + new string('8', 60);
                node["order_id"] = edgeId;
                return new HostileMessage("order_id of 64 characters", Utf8(edgeId), Bytes(node), StandardHeaders(evt), Expect.Applied);
            case 2:
                node["event_id"] = new string('e', 65);
                return Message("event_id of 65 characters", evt, Bytes(node), [.. StandardHeaders(evt).Where(h => h.Name != HeaderNames.EventId)], Expect.DeadLettered);
            case 3:
                node["event_id"] = RandomHex(64);
                return Message("event_id of 64 characters", evt, Bytes(node), [.. StandardHeaders(evt).Where(h => h.Name != HeaderNames.EventId)], Expect.Applied);
            case 4:
                node.Remove("event_id");
                return Message("no event_id anywhere", evt, Bytes(node), [.. StandardHeaders(evt).Where(h => h.Name != HeaderNames.EventId)], Expect.DeadLettered);
            default:
                node["order_id"] = "   ";
                return new HostileMessage("blank order_id", Utf8("   "), Bytes(node), StandardHeaders(evt), Expect.DeadLettered);
        }
    }

    private HostileMessage OddEncoding()
    {
        var evt = NewEvent();
        var json = Json(evt);
        var text = Encoding.UTF8.GetString(json);
        return random.Next(4) switch
        {
            0 => Message("UTF-8 byte order mark", evt, [0xEF, 0xBB, 0xBF, .. json], StandardHeaders(evt), Expect.AppliedOrDeadLettered),
            1 => Message("UTF-16 payload", evt, Encoding.Unicode.GetBytes(text), StandardHeaders(evt), Expect.DeadLettered),
            2 => Message("duplicate user_id property", evt, Encoding.UTF8.GetBytes(text[..^1] + ",\"user_id\":\"someone-else\"}"), StandardHeaders(evt), Expect.AppliedOrDeadLettered),
            _ => Message("trailing garbage", evt, Encoding.UTF8.GetBytes(text + "}{"), StandardHeaders(evt), Expect.DeadLettered),
        };
    }

    private OrderCreated NewEvent(bool? v2 = null)
    {
        var second = v2 ?? random.Next(3) == 0;
        var items = Enumerable.Range(0, random.Next(1, 4))
            .Select(_ => new OrderItem($"PROD-{random.Next(1, 11):D3}", random.Next(1, 5), random.Next(1, 100_000) / 100m)).ToList();
        return new OrderCreated
        {
            OrderId = "ORD-" + RandomHex(12).ToUpperInvariant(),
            EventId = RandomHex(32),
            UserId = $"USER-{random.Next(1, 1000):D3}",
            Items = items,
            TotalAmount = items.Sum(i => i.Quantity * i.Price),
            Timestamp = BaseTime.AddSeconds(random.Next(0, 1_000_000)),
            EventVersion = second ? 2 : 1,
            Currency = second ? "EUR" : null,
            ShippingAddress = second ? new ShippingAddress("1 Fuzz Street", "Testville", "12345", "DE") : null,
        };
    }

    private static HostileMessage Message(string kind, OrderCreated evt, byte[] value, IReadOnlyList<(string Name, byte[]? Value)> headers, Expect expect) =>
        new(kind, Utf8(evt.OrderId), value, headers, expect);

    private List<(string Name, byte[]? Value)> StandardHeaders(OrderCreated evt) =>
    [
        (HeaderNames.EventType, Utf8(evt.EventType)),
        (HeaderNames.EventVersion, Utf8(evt.EventVersion.ToString(CultureInfo.InvariantCulture))),
        (HeaderNames.EventId, Utf8(evt.EventId)),
        (HeaderNames.TraceParent, Utf8($"00-{RandomHex(32)}-{RandomHex(16)}-01")),
    ];

    private static byte[] Json(OrderCreated evt) => EventJson.Serialize(evt);

    private static JsonObject Node(OrderCreated evt) => JsonNode.Parse(EventJson.Serialize(evt))!.AsObject();

    private static byte[] Bytes(JsonNode node) => Encoding.UTF8.GetBytes(node.ToJsonString());

    private static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);

    /// <summary>Sets "a", "a[0]" or "a[0].b" in <paramref name="root"/>.</summary>
    private static void Set(JsonObject root, string path, JsonNode? value)
    {
        var parts = path.Split('.');
        JsonNode parent = root;
        for (var i = 0; i < parts.Length; i++)
        {
            var (name, index) = parts[i].EndsWith(']') ? (parts[i][..parts[i].IndexOf('[')], int.Parse(parts[i][(parts[i].IndexOf('[') + 1)..^1], CultureInfo.InvariantCulture)) : (parts[i], -1);
            var last = i == parts.Length - 1;
            if (index < 0)
            {
                if (last) parent.AsObject()[name] = value;
                else parent = parent[name]!;
            }
            else
            {
                var array = parent[name]!.AsArray();
                if (last) array[index] = value;
                else parent = array[index]!;
            }
        }
    }

    private static byte[] Replace(byte[] json, string find, byte[] with)
    {
        var text = Encoding.UTF8.GetString(json);
        var at = Encoding.UTF8.GetByteCount(text[..text.IndexOf(find, StringComparison.Ordinal)]);
        var length = Encoding.UTF8.GetByteCount(find);
        return [.. json[..at], .. with, .. json[(at + length)..]];
    }

    private byte[] RandomBytes(int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    private string RandomHex(int length) => Convert.ToHexString(RandomBytes((length + 1) / 2)).ToLowerInvariant()[..length];

    private string RandomText(int length)
    {
        const string alphabet = "abcXYZ019 -_.:/\\\"'{}[]<>%$\u00e9\u4e2d\ud83d\ude00\u0000\n\t";
        var text = new StringBuilder(length);
        while (text.Length < length)
        {
            var c = alphabet[random.Next(alphabet.Length)];
            if (char.IsHighSurrogate(c)) continue;
            if (char.IsLowSurrogate(c)) text.Append('\ud83d');
            text.Append(c);
        }
        return text.ToString();
    }
}
