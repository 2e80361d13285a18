using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using OrderFlow.Inventory.Data;
using OrderFlow.Orders.Data;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.Orders;

/// <summary>The HTTP API of SPEC §5 through the real host: validation, idempotency, reads, paging, cancel, health.</summary>
[TestFixture]
public sealed class OrderApiTests
{
    private const string ValidBody = """{"user_id":"USER-API","items":[{"product_id":"PROD-001","quantity":2,"price":99.99},{"product_id":"PROD-002","quantity":1,"price":5.50}]}""";

    private TestHost host = null!;

    // Payment is off so that orders stop in InventoryReserved: a cancel of an order in flight
    // and the status filter then see a state that does not move under them.
    [OneTimeSetUp]
    public async Task StartHost() => host = await TestHost.StartAsync(new Dictionary<string, string?>
    {
        ["OrderFlow:Modules:Payment:Enabled"] = "false",
        ["OrderFlow:Modules:Orders:SagaTimeout"] = "01:00:00",
        ["OrderFlow:Modules:Inventory:Catalog:PROD-001"] = "100000",
        ["OrderFlow:Modules:Inventory:Catalog:PROD-002"] = "100000",
    });

    [OneTimeTearDown]
    public async Task StopHost() => await host.DisposeAsync();

    [Test]
    public async Task Post_WhenSeveralFieldsAreInvalid_Returns400NamingEveryField()
    {
        var response = await PostAsync("""{"items":[{"product_id":"PROD-001","quantity":0,"price":1},{"product_id":"PROD-002","quantity":1,"price":1.999}]}""");

        var errors = await ValidationErrorsAsync(response);
        Assert.That(errors, Is.EquivalentTo(new[] { "user_id", "items[0].quantity", "items[1].price" }));
    }

    [Test]
    public async Task Post_WhenQuantityIsZero_Returns400NamingTheField()
    {
        var response = await PostAsync("""{"user_id":"USER-API","items":[{"product_id":"PROD-001","quantity":0,"price":1}]}""");

        Assert.That(await ValidationErrorsAsync(response), Is.EquivalentTo(new[] { "items[0].quantity" }));
    }

    [TestCase("""{"user_id":"","items":[{"product_id":"PROD-001","quantity":1,"price":1}]}""", "user_id")]
    [TestCase("""{"user_id":"bad user!","items":[{"product_id":"PROD-001","quantity":1,"price":1}]}""", "user_id")]
    [TestCase("""{"user_id":null,"items":[{"product_id":"PROD-001","quantity":1,"price":1}]}""", "user_id")]
    [TestCase("""{"user_id":"USER-API","items":[{"quantity":1,"price":1}]}""", "items[0].product_id")]
    [TestCase("""{"user_id":"USER-API","items":[{"product_id":"../etc","quantity":1,"price":1}]}""", "items[0].product_id")]
    [TestCase("""{"user_id":"USER-API","items":[{"product_id":"PROD-001","price":1}]}""", "items[0].quantity")]
    [TestCase("""{"user_id":"USER-API","items":[{"product_id":"PROD-001","quantity":-3,"price":1}]}""", "items[0].quantity")]
    [TestCase("""{"user_id":"USER-API","items":[{"product_id":"PROD-001","quantity":10001,"price":1}]}""", "items[0].quantity")]
    [TestCase("""{"user_id":"USER-API","items":[{"product_id":"PROD-001","quantity":1}]}""", "items[0].price")]
    [TestCase("""{"user_id":"USER-API","items":[{"product_id":"PROD-001","quantity":1,"price":0}]}""", "items[0].price")]
    [TestCase("""{"user_id":"USER-API","items":[{"product_id":"PROD-001","quantity":1,"price":-5}]}""", "items[0].price")]
    [TestCase("""{"user_id":"USER-API","items":[{"product_id":"PROD-001","quantity":1,"price":1000000.01}]}""", "items[0].price")]
    [TestCase("""{"user_id":"USER-API","items":[{"product_id":"PROD-001","quantity":1,"price":9.999}]}""", "items[0].price")]
    [TestCase("""{"user_id":"USER-API","items":[null]}""", "items[0]")]
    [TestCase("""{"user_id":"USER-API","items":[]}""", "items")]
    [TestCase("""{"user_id":"USER-API","items":null}""", "items")]
    [TestCase("""{"user_id":"USER-API"}""", "items")]
    [TestCase("""{}""", "user_id")]
    public async Task Post_WhenAFieldIsInvalid_Returns400NamingIt(string body, string field)
    {
        var response = await PostAsync(body);

        Assert.That(await ValidationErrorsAsync(response), Does.Contain(field));
    }

    [Test]
    public async Task Post_WhenItemsIsEmpty_Returns400NamingItems()
    {
        var response = await PostAsync("""{"user_id":"USER-API","items":[]}""");

        Assert.That(await ValidationErrorsAsync(response), Is.EquivalentTo(new[] { "items" }));
    }

    [Test]
    public async Task Post_WhenThereAreTooManyItems_Returns400NamingItems()
    {
        var items = Enumerable.Range(0, 101).Select(_ => new { product_id = "PROD-001", quantity = 1, price = 1m });

        var response = await PostAsync(JsonSerializer.Serialize(new { user_id = "USER-API", items }));

        Assert.That(await ValidationErrorsAsync(response), Is.EquivalentTo(new[] { "items" }));
    }

    [TestCase("""{"user_id":"USER-API","items":[{"product_id":"PROD-001","quantity":"abc","price":1}]}""", "items[0].quantity")]
    [TestCase("""{"user_id":"USER-API","items":[{"product_id":"PROD-001","quantity":1.5,"price":1}]}""", "items[0].quantity")]
    [TestCase("""{"user_id":"USER-API","items":[{"product_id":"PROD-001","quantity":99999999999999999999,"price":1}]}""", "items[0].quantity")]
    [TestCase("""{"user_id":"USER-API","items":[{"product_id":"PROD-001","quantity":1,"price":"9.99"}]}""", "items[0].price")]
    [TestCase("""{"user_id":"USER-API","items":[{"product_id":"PROD-001","quantity":1,"price":true}]}""", "items[0].price")]
    [TestCase("""{"user_id":"USER-API","items":[{"product_id":"PROD-001","quantity":1,"price":1e400}]}""", "items[0].price")]
    [TestCase("""{"user_id":"USER-API","items":[{"product_id":7,"quantity":1,"price":1}]}""", "items[0].product_id")]
    [TestCase("""{"user_id":42,"items":[{"product_id":"PROD-001","quantity":1,"price":1}]}""", "user_id")]
    [TestCase("""{"user_id":"USER-API","items":"PROD-001"}""", "items")]
    [TestCase("""{"user_id":"USER-API","items":[5]}""", "items[0]")]
    [TestCase("""{"user_id":"USER-API","items":[[{"product_id":"PROD-001","quantity":1,"price":1}]]}""", "items[0]")]
    public async Task Post_WhenAFieldHasTheWrongJsonType_Returns400NamingIt(string body, string field)
    {
        var response = await PostAsync(body);

        Assert.That(await ValidationErrorsAsync(response), Does.Contain(field));
    }

    [TestCase("{")]
    [TestCase("""{"user_id":"USER-API",""")]
    [TestCase("""{"user_id":"USER-API","items":[}""")]
    [TestCase("""{"user_id":"USER-API","items":[{"product_id":"PROD-001","quantity":1,"price":1}]} trailing""")]
    [TestCase("not json")]
    [TestCase("[]")]
    [TestCase("\"an order\"")]
    [TestCase("""{"user_id":"USER-API","items":[{"product_id":"PROD-001","quantity":1,"price":1}]}}""")]
    [TestCase("""{"user_id":"USER-API","items":[{"product_id":"PROD-001","quantity":1,"price":1,}]}""")]
    [TestCase("""{"user_id":"USER-API","items":[{"product_id":"PROD-001","quantity":01,"price":1}]}""")]
    [TestCase("""{"user_id":"USER-API","items":[{"product_id":"PROD-001","quantity":1,"price":NaN}]}""")]
    [TestCase("""{'user_id':'USER-API'}""")]
    [TestCase("""{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{"i":{}}}}}}}}}}""")]
    public async Task Post_WhenJsonIsMalformed_Returns400ProblemAboutTheBody(string body)
    {
        var response = await PostAsync(body);

        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.That(problem.TryGetProperty("errors", out _), Is.False, "a syntax error is not blamed on a field");
    }

    [Test]
    public async Task Post_WhenBodyIsNotUtf8_Returns400Problem()
    {
        byte[] bytes = [.. Encoding.UTF8.GetBytes("{\"user_id\":\"USER-"), 0xFF, 0xFE, .. Encoding.UTF8.GetBytes("\",\"items\":[{\"product_id\":\"PROD-001\",\"quantity\":1,\"price\":1}]}")];
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");

        var response = await host.Http.PostAsync("/orders", content);

        await AssertProblemAsync(response, HttpStatusCode.BadRequest);
    }

    [TestCase("")]
    [TestCase("null")]
    [TestCase("   ")]
    public async Task Post_WhenBodyIsEmpty_Returns400Problem(string body)
    {
        var response = await PostAsync(body);

        await AssertProblemAsync(response, HttpStatusCode.BadRequest);
    }

    [Test]
    public async Task Post_WhenThereIsNoBodyAtAll_Returns400Problem()
    {
        var response = await host.Http.PostAsync("/orders", null);

        await AssertProblemAsync(response, HttpStatusCode.BadRequest);
    }

    [TestCase("text/plain")]
    [TestCase("application/xml")]
    [TestCase("application/x-www-form-urlencoded")]
    public async Task Post_WhenContentTypeIsNotJson_Returns415Problem(string contentType)
    {
        var response = await PostAsync(ValidBody, contentType: contentType);

        await AssertProblemAsync(response, HttpStatusCode.UnsupportedMediaType);
    }

    [Test]
    public async Task Post_WhenClientSendsTotalAmount_Returns400NamingTotalAmount()
    {
        var response = await PostAsync("""{"user_id":"USER-API","items":[{"product_id":"PROD-001","quantity":1,"price":1}],"total_amount":0.01}""");

        Assert.That(await ValidationErrorsAsync(response), Is.EquivalentTo(new[] { "total_amount" }));
    }

    [Test]
    public async Task Post_WhenBodyHasAnUnknownField_Returns400NamingIt()
    {
        var response = await PostAsync("""{"user_id":"USER-API","items":[{"product_id":"PROD-001","quantity":1,"price":1}],"coupon":"FREE"}""");

        Assert.That(await ValidationErrorsAsync(response), Is.EquivalentTo(new[] { "coupon" }));
    }

    [TestCase("")]
    [TestCase("a-key-that-is-much-too-long-a-key-that-is-much-too-long-a-key-that-is-much-too-long-a-key-that-is-much-too-long-a-key-that-is-much")]
    public async Task Post_WhenIdempotencyKeyIsInvalid_Returns400NamingTheHeader(string key)
    {
        var response = await PostAsync(ValidBody, key);

        Assert.That(await ValidationErrorsAsync(response), Is.EquivalentTo(new[] { "Idempotency-Key" }));
    }

    [Test]
    public async Task Post_WhenOrderIsValid_Returns202WithLocationAndOrderId()
    {
        var response = await PostAsync(ValidBody);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Accepted));
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        var orderId = body.GetProperty("order_id").GetString();
        Assert.That(orderId, Does.StartWith("ORD-"));
        Assert.That(response.Headers.Location?.OriginalString, Is.EqualTo($"/orders/{orderId}"));
        Assert.That(body.GetProperty("status").GetString(), Is.EqualTo("Created"));
        var follow = await host.Http.GetAsync(response.Headers.Location);
        Assert.That(follow.StatusCode, Is.EqualTo(HttpStatusCode.OK));
    }

    [Test]
    public async Task Post_WhenOrderIsValid_ComputesTotalAmountOnTheServer()
    {
        var response = await PostAsync(ValidBody);

        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.That(body.GetProperty("total_amount").GetDecimal(), Is.EqualTo(205.48m));
        var order = await host.GetOrderAsync(body.GetProperty("order_id").GetString()!);
        Assert.That(order.GetProperty("total_amount").GetDecimal(), Is.EqualTo(205.48m));
    }

    [Test]
    public async Task Post_WhenRetriedWithTheSameIdempotencyKey_ReturnsTheSameOrderAndCreatesOne()
    {
        var key = NewKey();
        var totalBefore = await TotalAsync();

        var first = await PostAsync(ValidBody, key);
        var second = await PostAsync(ValidBody, key);

        Assert.That(first.StatusCode, Is.EqualTo(HttpStatusCode.Accepted));
        Assert.That(second.StatusCode, Is.EqualTo(HttpStatusCode.Accepted));
        var firstId = await OrderIdOfAsync(first);
        Assert.That(await OrderIdOfAsync(second), Is.EqualTo(firstId));
        Assert.That(second.Headers.Location, Is.EqualTo(first.Headers.Location));
        Assert.That(await TotalAsync(), Is.EqualTo(totalBefore + 1));
        Assert.That(await OrdersWithKeyAsync(key), Is.EqualTo(1));
    }

    [Test]
    public async Task Post_WhenRetriedWithTheSameKeyAndAReformattedBody_ReturnsTheSameOrder()
    {
        var key = NewKey();
        var first = await OrderIdOfAsync(await PostAsync(ValidBody, key));

        var reformatted = """
            { "items": [ { "price": 99.99, "quantity": 2, "product_id": "PROD-001" },
                         { "product_id": "PROD-002", "price": 5.50, "quantity": 1 } ],
              "user_id": "USER-API" }
            """;
        var second = await OrderIdOfAsync(await PostAsync(reformatted, key));

        Assert.That(second, Is.EqualTo(first));
        Assert.That(await OrdersWithKeyAsync(key), Is.EqualTo(1));
    }

    [Test]
    public async Task Post_WhenRetriedWithoutIdempotencyKey_CreatesTwoOrders()
    {
        var first = await OrderIdOfAsync(await PostAsync(ValidBody));
        var second = await OrderIdOfAsync(await PostAsync(ValidBody));

        Assert.That(second, Is.Not.EqualTo(first));
    }

    [Test]
    public async Task Post_WhenIdempotencyKeyIsReusedWithADifferentBody_Returns409Problem()
    {
        var key = NewKey();
        var first = await OrderIdOfAsync(await PostAsync(ValidBody, key));

        var response = await PostAsync("""{"user_id":"USER-API","items":[{"product_id":"PROD-001","quantity":3,"price":99.99}]}""", key);

        var problem = await AssertProblemAsync(response, HttpStatusCode.Conflict);
        Assert.That(problem.GetProperty("detail").GetString(), Does.Contain(first));
        Assert.That(await OrdersWithKeyAsync(key), Is.EqualTo(1));
    }

    [Test]
    public async Task Post_WhenTenIdenticalRequestsRaceWithOneKey_CreatesExactlyOneOrder()
    {
        var key = NewKey();

        var responses = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => PostAsync(ValidBody, key)));

        Assert.That(responses.Select(r => r.StatusCode), Is.All.EqualTo(HttpStatusCode.Accepted));
        var ids = await Task.WhenAll(responses.Select(OrderIdOfAsync));
        Assert.That(ids.Distinct().Count(), Is.EqualTo(1));
        Assert.That(await OrdersWithKeyAsync(key), Is.EqualTo(1));
    }

    [Test]
    public async Task Get_WhenOrderExists_ReturnsStatusItemsAmountsAndTimestampedHistory()
    {
        var orderId = await OrderIdOfAsync(await PostAsync(ValidBody));

        var order = await host.WaitForStatusAsync(orderId, "InventoryReserved");

        Assert.That(order.GetProperty("order_id").GetString(), Is.EqualTo(orderId));
        Assert.That(order.GetProperty("user_id").GetString(), Is.EqualTo("USER-API"));
        Assert.That(order.GetProperty("is_terminal").GetBoolean(), Is.False);
        Assert.That(order.GetProperty("total_amount").GetDecimal(), Is.EqualTo(205.48m));
        var items = order.GetProperty("items").EnumerateArray().ToList();
        Assert.That(items.Select(i => i.GetProperty("product_id").GetString()), Is.EqualTo(new[] { "PROD-001", "PROD-002" }));
        Assert.That(items.Select(i => i.GetProperty("quantity").GetInt32()), Is.EqualTo(new[] { 2, 1 }));
        Assert.That(items.Select(i => i.GetProperty("price").GetDecimal()), Is.EqualTo(new[] { 99.99m, 5.50m }));
        Assert.That(items.Select(i => i.GetProperty("line_total").GetDecimal()), Is.EqualTo(new[] { 199.98m, 5.50m }));
        Assert.That(order.GetProperty("reservation_id").GetString(), Is.Not.Empty);
        var history = order.GetProperty("history").EnumerateArray().ToList();
        Assert.That(history.Select(h => h.GetProperty("to").GetString()), Is.EqualTo(new[] { "Created", "InventoryReserved" }));
        Assert.That(history[1].GetProperty("from").GetString(), Is.EqualTo("Created"));
        var times = history.Select(h => h.GetProperty("at").GetDateTime()).ToList();
        Assert.That(times, Is.Ordered);
        Assert.That(times[0], Is.EqualTo(order.GetProperty("created_at").GetDateTime()));
        Assert.That(times[0], Is.EqualTo(DateTime.UtcNow).Within(TimeSpan.FromMinutes(1)));
    }

    [Test]
    public async Task Get_WhenOrderIsUnknown_Returns404Problem()
    {
        var response = await host.Http.GetAsync("/orders/ORD-NOSUCHORDER");

        await AssertProblemAsync(response, HttpStatusCode.NotFound);
    }

    [Test]
    public async Task List_ReturnsNewestFirstInPagesWithTheTotal()
    {
        var ids = new List<string>();
        for (var i = 0; i < 5; i++) ids.Add(await OrderIdOfAsync(await PostAsync(ValidBody)));
        var total = await TotalAsync();

        var first = await ListAsync("page=1&page_size=2");
        var second = await ListAsync("page=2&page_size=2");

        Assert.That(first.GetProperty("total").GetInt32(), Is.EqualTo(total));
        Assert.That(first.GetProperty("page").GetInt32(), Is.EqualTo(1));
        Assert.That(first.GetProperty("page_size").GetInt32(), Is.EqualTo(2));
        Assert.That(IdsOf(first), Is.EqualTo(new[] { ids[4], ids[3] }));
        Assert.That(IdsOf(second), Is.EqualTo(new[] { ids[2], ids[1] }));
        var created = first.GetProperty("items").EnumerateArray().Select(o => o.GetProperty("created_at").GetDateTime()).ToList();
        Assert.That(created, Is.Ordered.Descending);
    }

    [Test]
    public async Task List_WhenPageIsPastTheEnd_ReturnsNoItemsAndTheTotal()
    {
        await PostAsync(ValidBody);
        var total = await TotalAsync();

        var page = await ListAsync("page=100000&page_size=100");

        Assert.That(page.GetProperty("items").GetArrayLength(), Is.Zero);
        Assert.That(page.GetProperty("total").GetInt32(), Is.EqualTo(total));
    }

    [Test]
    public async Task List_WithoutPaging_ReturnsTheFirstPageOfTwenty()
    {
        var missing = 21 - await TotalAsync();
        for (var i = 0; i < missing; i++) await PostAsync(ValidBody);

        var page = await ListAsync("");

        Assert.That(page.GetProperty("page").GetInt32(), Is.EqualTo(1));
        Assert.That(page.GetProperty("page_size").GetInt32(), Is.EqualTo(20));
        Assert.That(page.GetProperty("items").GetArrayLength(), Is.EqualTo(20));
    }

    [Test]
    public async Task List_WhenParametersAreEmpty_UsesTheDefaults()
    {
        var page = await ListAsync("status=&page=&page_size=");

        Assert.That(page.GetProperty("page").GetInt32(), Is.EqualTo(1));
        Assert.That(page.GetProperty("page_size").GetInt32(), Is.EqualTo(20));
        Assert.That(page.GetProperty("total").GetInt32(), Is.EqualTo(await CountInStoreAsync(null)));
    }

    [TestCase("Rejected")]
    [TestCase("rejected")]
    public async Task List_WhenFilteredByStatus_ReturnsOnlyOrdersInThatStatus(string status)
    {
        var rejected = await OrderIdOfAsync(await PostAsync("""{"user_id":"USER-API","items":[{"product_id":"PROD-NOPE","quantity":1,"price":1}]}"""));
        await host.WaitForStatusAsync(rejected, "Rejected");

        var page = await ListAsync($"status={status}&page_size=100");

        var statuses = page.GetProperty("items").EnumerateArray().Select(o => o.GetProperty("status").GetString()).ToList();
        Assert.That(statuses, Is.Not.Empty.And.All.EqualTo("Rejected"));
        Assert.That(IdsOf(page), Does.Contain(rejected));
        Assert.That(page.GetProperty("total").GetInt32(), Is.EqualTo(await CountInStoreAsync(OrderStatus.Rejected)));
    }

    [TestCase("status=Shipped", "status")]
    [TestCase("status=3", "status")]
    [TestCase("status=Rejected,Cancelled", "status")]
    [TestCase("status=Rejected&status=Cancelled", "status")]
    [TestCase("page=0", "page")]
    [TestCase("page=-1", "page")]
    [TestCase("page=abc", "page")]
    [TestCase("page=99999999999", "page")]
    [TestCase("page_size=0", "page_size")]
    [TestCase("page_size=101", "page_size")]
    [TestCase("page_size=ten", "page_size")]
    public async Task List_WhenAParameterIsInvalid_Returns400NamingIt(string query, string parameter)
    {
        var response = await host.Http.GetAsync($"/orders?{query}");

        Assert.That(await ValidationErrorsAsync(response), Is.EquivalentTo(new[] { parameter }));
    }

    [Test]
    public async Task List_WhenEveryParameterIsInvalid_Returns400NamingEachOne()
    {
        var response = await host.Http.GetAsync("/orders?status=nope&page=0&page_size=-5");

        Assert.That(await ValidationErrorsAsync(response), Is.EquivalentTo(new[] { "status", "page", "page_size" }));
    }

    [Test]
    public async Task Cancel_WhenOrderIsUnknown_Returns404Problem()
    {
        var response = await host.Http.PostAsync("/orders/ORD-NOSUCHORDER/cancel", null);

        await AssertProblemAsync(response, HttpStatusCode.NotFound);
    }

    [Test]
    public async Task Cancel_WhenOrderIsAwaitingPayment_Returns202CancelsAndReleasesStock()
    {
        var orderId = await OrderIdOfAsync(await PostAsync(ValidBody));
        await host.WaitForStatusAsync(orderId, "InventoryReserved");

        var response = await host.Http.PostAsync($"/orders/{orderId}/cancel", null);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Accepted));
        Assert.That(response.Headers.Location?.OriginalString, Is.EqualTo($"/orders/{orderId}"));
        var order = await host.GetOrderAsync(orderId);
        Assert.That(order.GetProperty("status").GetString(), Is.EqualTo("Cancelled"));
        Assert.That(order.GetProperty("reason").GetString(), Is.EqualTo("user_cancelled"));
        Assert.That(order.GetProperty("is_terminal").GetBoolean(), Is.True);
        var last = order.GetProperty("history").EnumerateArray().Last();
        Assert.That((last.GetProperty("from").GetString(), last.GetProperty("to").GetString()), Is.EqualTo(("InventoryReserved", "Cancelled")));
        await Eventually.Until(async () =>
        {
            await using var scope = host.Scope();
            var inventory = scope.ServiceProvider.GetRequiredService<InventoryDbContext>();
            var reservation = await inventory.Reservations.AsNoTracking().SingleAsync(r => r.OrderId == orderId);
            return reservation.Status == ReservationStatus.Released;
        }, $"the reservation of {orderId} to be released");
    }

    [Test]
    public async Task Cancel_WhenOrderIsAlreadyCancelled_Returns409Problem()
    {
        var orderId = await OrderIdOfAsync(await PostAsync(ValidBody));
        Assert.That((await host.Http.PostAsync($"/orders/{orderId}/cancel", null)).StatusCode, Is.EqualTo(HttpStatusCode.Accepted));

        var response = await host.Http.PostAsync($"/orders/{orderId}/cancel", null);

        await AssertProblemAsync(response, HttpStatusCode.Conflict);
        Assert.That(await host.StatusOfAsync(orderId), Is.EqualTo("Cancelled"));
    }

    [Test]
    public async Task Cancel_WhenOrderWasRejected_Returns409ProblemAndKeepsTheReason()
    {
        var orderId = await OrderIdOfAsync(await PostAsync("""{"user_id":"USER-API","items":[{"product_id":"PROD-NOPE","quantity":1,"price":1}]}"""));
        await host.WaitForStatusAsync(orderId, "Rejected");

        var response = await host.Http.PostAsync($"/orders/{orderId}/cancel", null);

        await AssertProblemAsync(response, HttpStatusCode.Conflict);
        var order = await host.GetOrderAsync(orderId);
        Assert.That(order.GetProperty("status").GetString(), Is.EqualTo("Rejected"));
        Assert.That(order.GetProperty("reason").GetString(), Is.EqualTo("unknown_product: PROD-NOPE"));
    }

    [Test]
    public async Task OpenApi_IsServedAndListsTheOrderPaths()
    {
        var response = await host.Http.GetAsync("/openapi/v1.json");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        var document = await response.Content.ReadFromJsonAsync<JsonElement>();
        var paths = document.GetProperty("paths").EnumerateObject().Select(p => p.Name).ToList();
        Assert.That(paths, Is.SupersetOf(new[] { "/orders", "/orders/{id}", "/orders/{id}/cancel" }));
    }

    [Test]
    public async Task HealthLive_Returns200()
    {
        var response = await host.Http.GetAsync("/health/live");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
    }

    [Test]
    public async Task HealthReady_Returns200WithDatabaseAndBrokerChecks()
    {
        var response = await host.Http.GetAsync("/health/ready");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.That(body.GetProperty("status").GetString(), Is.EqualTo("Healthy"));
        var checks = body.GetProperty("checks").EnumerateArray().ToDictionary(c => c.GetProperty("name").GetString()!, c => c.GetProperty("status").GetString());
        Assert.That(checks, Does.ContainKey("database").WithValue("Healthy"));
        Assert.That(checks, Does.ContainKey("broker").WithValue("Healthy"));
    }

    [TestCase("/no/such/route")]
    [TestCase("/orders/ORD-1/refund")]
    public async Task UnknownRoute_Returns404Problem(string path)
    {
        var response = await host.Http.GetAsync(path);

        await AssertProblemAsync(response, HttpStatusCode.NotFound);
    }

    [Test]
    public async Task WrongMethod_Returns405Problem()
    {
        var response = await host.Http.DeleteAsync("/orders");

        await AssertProblemAsync(response, HttpStatusCode.MethodNotAllowed);
    }

    private Task<HttpResponseMessage> PostAsync(string body, string? idempotencyKey = null, string contentType = "application/json")
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/orders") { Content = new StringContent(body, Encoding.UTF8, contentType) };
        if (idempotencyKey is not null) request.Headers.TryAddWithoutValidation("Idempotency-Key", idempotencyKey);
        return host.Http.SendAsync(request);
    }

    private static async Task<JsonElement> AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.That(response.StatusCode, Is.EqualTo(status), text);
        Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"), text);
        var problem = JsonDocument.Parse(text).RootElement;
        Assert.That(problem.GetProperty("status").GetInt32(), Is.EqualTo((int)status));
        Assert.That(problem.GetProperty("title").GetString(), Is.Not.Empty);
        return problem;
    }

    private static async Task<IReadOnlyList<string>> ValidationErrorsAsync(HttpResponseMessage response)
    {
        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.That(problem.TryGetProperty("errors", out var errors), Is.True, problem.ToString());
        foreach (var error in errors.EnumerateObject())
            Assert.That(error.Value.EnumerateArray().Select(m => m.GetString()), Is.Not.Empty.And.All.Not.Empty, error.Name);
        return errors.EnumerateObject().Select(e => e.Name).ToList();
    }

    private static async Task<string> OrderIdOfAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Accepted), text);
        return JsonDocument.Parse(text).RootElement.GetProperty("order_id").GetString()!;
    }

    private async Task<JsonElement> ListAsync(string query)
    {
        var response = await host.Http.GetAsync($"/orders?{query}");
        var text = await response.Content.ReadAsStringAsync();
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), text);
        return JsonDocument.Parse(text).RootElement;
    }

    private static List<string?> IdsOf(JsonElement page) =>
        page.GetProperty("items").EnumerateArray().Select(o => o.GetProperty("order_id").GetString()).ToList();

    private async Task<int> TotalAsync() => (await ListAsync("page_size=1")).GetProperty("total").GetInt32();

    private async Task<int> OrdersWithKeyAsync(string key)
    {
        await using var scope = host.Scope();
        return await scope.ServiceProvider.GetRequiredService<OrdersDbContext>().Orders.CountAsync(o => o.IdempotencyKey == key);
    }

    private async Task<int> CountInStoreAsync(OrderStatus? status)
    {
        await using var scope = host.Scope();
        var orders = scope.ServiceProvider.GetRequiredService<OrdersDbContext>().Orders;
        return status is { } wanted ? await orders.CountAsync(o => o.Status == wanted) : await orders.CountAsync();
    }

    private static string NewKey() => "key-" + Guid.NewGuid().ToString("N");
}
