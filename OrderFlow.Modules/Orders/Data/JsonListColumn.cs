using System.Text;
using System.Text.Json;

namespace OrderFlow.Orders.Data;

/// <summary>The JSON text of the order columns: snake_case, UTC timestamps with a trailing Z.</summary>
internal static class OrderColumnJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new Messaging.UtcDateTimeConverter() },
    };
}

/// <summary>
/// A list that only grows, stored as one JSON array column (an order's lines and its history),
/// parsed only when the list is read and appended to as text. The Orders consumer loads each
/// order twice and never reads either list; parsing both on every load and writing the whole
/// history again on every transition were ~1.5 % of the CPU at full speed (docs/benchmarks.md).
/// <para>
/// The text is the document <see cref="JsonSerializer"/> writes for the whole list with
/// <see cref="OrderColumnJson.Options"/>: elements separated by a comma, no white space, so an
/// appended element gives the same text as writing the list again. Entries are never changed or
/// removed once added (what the column's change detection compared before: the count); a list
/// that got shorter is written again whole.
/// </para>
/// </summary>
internal sealed class JsonListColumn<T>
{
    private const string Empty = "[]";

    private List<T>? list;
    private string json = Empty;
    // How many of list's entries json holds; meaningful while list is not null.
    private int written;

    /// <summary>A new list, none of it written yet.</summary>
    public JsonListColumn(List<T> list) => this.list = list;

    /// <summary>The list, parsed from the column the first time it is read.</summary>
    public List<T> List
    {
        get
        {
            if (list is null)
            {
                list = JsonSerializer.Deserialize<List<T>>(json, OrderColumnJson.Options) ?? [];
                written = list.Count;
            }
            return list;
        }
    }

    /// <summary>The column's text, with what was added to the list since; setting it (a row read from the store) drops the parsed list.</summary>
    public string Json
    {
        get
        {
            if (list is null || list.Count == written) return json;
            json = list.Count < written ? JsonSerializer.Serialize(list, OrderColumnJson.Options) : Append(json, list, written);
            written = list.Count;
            return json;
        }
        set
        {
            json = value ?? throw new ArgumentNullException(nameof(value));
            list = null;
        }
    }

    /// <summary>Adds <paramref name="item"/>: to the list when it was read, else to the text alone.</summary>
    public void Add(T item)
    {
        if (list is not null) list.Add(item);
        else json = Append(json, item);
    }

    // One item, the usual case (a transition added to the history): the item's text and the new
    // column text, without a builder's buffer in between.
    private static string Append(string json, T item) =>
        string.Concat(json.AsSpan(0, ArrayEnd(json)), IsEmptyArray(json) ? "" : ",", JsonSerializer.Serialize(item, OrderColumnJson.Options), "]");

    private static string Append(string json, List<T> items, int from)
    {
        if (items.Count - from == 1) return Append(json, items[from]);
        var first = IsEmptyArray(json);
        var text = new StringBuilder(json.Length + 96 * (items.Count - from));
        text.Append(json, 0, ArrayEnd(json));
        for (var i = from; i < items.Count; i++)
        {
            if (!first) text.Append(',');
            text.Append(JsonSerializer.Serialize(items[i], OrderColumnJson.Options));
            first = false;
        }
        return text.Append(']').ToString();
    }

    // Where the array's closing bracket is; throws when the text is no JSON array.
    private static int ArrayEnd(string json) =>
        json.Length >= 2 && json[0] == '[' && json[^1] == ']' ? json.Length - 1 : throw new JsonException($"the column holds no JSON array: '{json}'");

    private static bool IsEmptyArray(string json) => json.AsSpan(1, ArrayEnd(json) - 1).Trim().IsEmpty;
}
