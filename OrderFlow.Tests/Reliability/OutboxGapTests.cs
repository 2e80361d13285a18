using System.Text;
using Microsoft.Data.Sqlite;
using OrderFlow.Contracts;
using OrderFlow.Host.Cli;
using OrderFlow.Messaging;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.Reliability;

/// <summary>
/// The relay's hand-off (<c>OutboxSignal</c>) in a running host. The writers hand the relay the
/// outbox rows they commit; a row committed by a path that hands nothing over — another process
/// on the same file — leaves a gap in those ids, and the relay must read the table for it rather
/// than send the rows after it and skip it (docs/architecture.md, "The outbox relay").
/// </summary>
[TestFixture]
public sealed class OutboxGapTests
{
    [Test]
    public async Task Relay_WhenAnotherProcessCommitsAnOutboxRow_PublishesItInIdOrderThenTakesHandedOffRowsAgain()
    {
        // The longest poll interval the setting allows: within the test the relay reads the table
        // only when a hand-off shows a gap, so only the gap path can deliver the row.
        await using var host = await TestHost.StartAsync(new Dictionary<string, string?> { ["OrderFlow:Messaging:OutboxPollIntervalMs"] = "60000" });
        var first = await host.PlaceOrderAsync("USER-GAP-1", ("PROD-001", 1, 10m));
        await host.WaitForStatusAsync(first, "Completed");
        await host.WaitUntilDrainedAsync();
        var selectedBefore = RowsOf("relay.orders.select");
        var handedOffBefore = RowsOf("relay.orders.handed-off");

        // Another process's row for the first order's key: committed, never handed over.
        var gap = new OrderStatusChanged
        {
            OrderId = first, UserId = "USER-GAP-1", PreviousStatus = "InventoryReserved", Status = "Paid", TotalAmount = 10m, IsTerminal = false,
            Timestamp = DateTime.UtcNow,
        };
        await InsertOutboxRowAsync(host.DatabasePath, gap);
        // The next order's rows are handed over; the first of them comes right after the gap.
        var second = await host.PlaceOrderAsync("USER-GAP-2", ("PROD-001", 1, 10m));
        await host.WaitForStatusAsync(second, "Completed");
        await host.WaitUntilDrainedAsync();

        var events = DlqCommand.Read(host.KafkaClients, [Topics.OrderEvents], CancellationToken.None);
        var ofFirst = events.Where(e => Encoding.UTF8.GetString(e.Message.Key!) == first).ToList();
        var delivered = ofFirst.SingleOrDefault(e => e.EventId == gap.EventId);
        Assert.Multiple(() =>
        {
            Assert.That(delivered, Is.Not.Null, "the row committed outside the hand-off reached order-events");
            Assert.That(ofFirst.Last().EventId, Is.EqualTo(gap.EventId), "after every event of its order committed before it");
            Assert.That(events.Where(e => Encoding.UTF8.GetString(e.Message.Key!) == second).Select(e => e.EventType),
                Is.EqualTo(ofFirst.Where(e => e.EventId != gap.EventId).Select(e => e.EventType)),
                "every row of the order committed after the gap was published, once, as the first order's were");
            Assert.That(RowsOf("relay.orders.select") - selectedBefore, Is.GreaterThanOrEqualTo(2), "the gap row and the handed-off row after it were read from the table");
            Assert.That(RowsOf("relay.orders.handed-off") - handedOffBefore, Is.GreaterThan(0), "past the gap, the relay took handed-off rows again");
        });
    }

    private static long RowsOf(string stage) => StageTimings.Snapshot().SingleOrDefault(s => s.Stage == stage)?.Count ?? 0;

    private static async Task InsertOutboxRowAsync(string databasePath, OrderStatusChanged evt)
    {
        await using var connection = new SqliteConnection($"Data Source={databasePath}");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = """
            INSERT INTO orders_outbox (event_id, event_type, event_version, topic, key, payload, traceparent, created_at)
            VALUES ($id, $type, $version, $topic, $key, $payload, NULL, $now)
            """;
        command.Parameters.AddWithValue("$id", evt.EventId);
        command.Parameters.AddWithValue("$type", nameof(OrderStatusChanged));
        command.Parameters.AddWithValue("$version", evt.EventVersion);
        command.Parameters.AddWithValue("$topic", Topics.OrderEvents);
        command.Parameters.AddWithValue("$key", evt.OrderId);
        command.Parameters.AddWithValue("$payload", EventJson.Serialize(evt));
        command.Parameters.AddWithValue("$now", DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm:ss.FFFFFFF", System.Globalization.CultureInfo.InvariantCulture));
        await command.ExecuteNonQueryAsync();
    }
}
