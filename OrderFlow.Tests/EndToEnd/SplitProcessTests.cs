using System.Net.Http.Json;
using System.Text.Json;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.EndToEnd;

/// <summary>
/// The original design's "kill the payment service" test: the same binary in two processes on one
/// broker, Payment alone in one of them.
/// </summary>
[TestFixture]
public sealed class SplitProcessTests
{
    [Test]
    public async Task Orders_WhenThePaymentProcessIsStoppedAndStartedAgain_WaitInInventoryReservedThenComplete()
    {
        using var cluster = new ProcessCluster();
        var apiPort = HostProcess.FreePort();
        await using var rest = HostProcess.Start(cluster.Args(apiPort, "OrderFlow:Modules:Payment:Enabled=false"), null);
        await rest.WaitForLineAsync("Embedded Kafka broker listening on");
        await rest.WaitForLineAsync("Application started");
        var payment = StartPayment(cluster);
        await payment.WaitForLineAsync("Joined the embedded Kafka broker");
        await payment.WaitForLineAsync("Application started");
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{apiPort}") };

        var first = await PlaceAsync(http);
        await WaitForAsync(http, first, "Completed");

        await payment.StopAsync();
        var waiting = new List<string>();
        for (var i = 0; i < 5; i++) waiting.Add(await PlaceAsync(http));
        foreach (var id in waiting) await WaitForAsync(http, id, "InventoryReserved");
        await Task.Delay(TimeSpan.FromSeconds(1));
        foreach (var id in waiting) Assert.That(await StatusAsync(http, id), Is.EqualTo("InventoryReserved"), "no payment while Payment is down");

        await using var restarted = StartPayment(cluster);
        foreach (var id in waiting) await WaitForAsync(http, id, "Completed", TimeSpan.FromSeconds(60));
    }

    private static HostProcess StartPayment(ProcessCluster cluster) => HostProcess.Start(cluster.Args(HostProcess.FreePort(),
        "OrderFlow:Modules:Orders:Enabled=false", "OrderFlow:Modules:Inventory:Enabled=false", "OrderFlow:Modules:Notification:Enabled=false"), null);

    private static async Task<string> PlaceAsync(HttpClient http)
    {
        var response = await http.PostAsJsonAsync("/orders", new { user_id = "USER-SPLIT", items = new[] { new { product_id = "PROD-001", quantity = 1, price = 5m } } });
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("order_id").GetString()!;
    }

    private static async Task<string> StatusAsync(HttpClient http, string id) =>
        (await http.GetFromJsonAsync<JsonElement>($"/orders/{id}")).GetProperty("status").GetString()!;

    private static Task WaitForAsync(HttpClient http, string id, string status, TimeSpan? timeout = null) =>
        Eventually.Until(async () => await StatusAsync(http, id) == status, $"order {id} to become {status}", timeout ?? TimeSpan.FromSeconds(30));
}
