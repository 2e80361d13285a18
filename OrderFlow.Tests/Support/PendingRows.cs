using OrderFlow.Persistence;

namespace OrderFlow.Tests.Support;

/// <summary>An outbox row as the relay sends it, written out for comparison: the UTF-8 columns as text, the payload as hex.</summary>
public static class PendingRows
{
    public static string Describe(PendingOutboxRow r) =>
        $"{r.Id}|{Utf8(r.EventId)}|{Utf8(r.EventType)}|{r.EventVersion}|{r.Topic}|{Utf8(r.Key)}|{Convert.ToHexString(r.Payload)}|{(r.TraceParent is null ? "null" : Utf8(r.TraceParent))}";

    public static string Utf8(byte[] bytes) => System.Text.Encoding.UTF8.GetString(bytes);
}
