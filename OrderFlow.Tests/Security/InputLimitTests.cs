using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.Security;

/// <summary>
/// Every input limit of <c>POST /orders</c> at its edge: the largest accepted value is accepted,
/// one past it is refused with 400 (or 413) naming the field, and nothing hostile gets a 500.
/// (Orders/OrderApiTests covers the refusals far from the edges.)
/// </summary>
[TestFixture]
public sealed class InputLimitTests
{
    private const int BodyLimit = 16 * 1024;

    private TestHost host = null!;

    [OneTimeSetUp]
    public async Task StartHost() => host = await TestHost.StartAsync(new Dictionary<string, string?>
    {
        ["OrderFlow:Api:MaxRequestBodyBytes"] = BodyLimit.ToString(),
        ["OrderFlow:Modules:Payment:Enabled"] = "false",
        ["OrderFlow:Modules:Orders:SagaTimeout"] = "01:00:00",
    });

    [OneTimeTearDown]
    public async Task StopHost() => await host.DisposeAsync();

    [Test]
    public async Task Post_WhenTheBodyIsLargerThanTheLimit_Returns413Problem()
    {
        var body = Order(user: "USER-BIG").Replace("\"items\"", new string(' ', BodyLimit) + "\"items\"");

        var response = await PostAsync(body);

        await AssertProblemAsync(response, HttpStatusCode.RequestEntityTooLarge);
    }

    [Test]
    public async Task Post_WhenAChunkedBodyGrowsPastTheLimit_Returns413ProblemNot500()
    {
        var body = Encoding.UTF8.GetBytes(Order(user: "USER-BIG").Replace("\"items\"", new string(' ', BodyLimit + 500) + "\"items\""));
        // No Content-Length: Kestrel finds out while the endpoint reads.
        var content = new StreamContent(new MemoryStream(body));
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        var request = new HttpRequestMessage(HttpMethod.Post, "/orders") { Content = content };
        request.Headers.TransferEncodingChunked = true;

        var response = await host.Http.SendAsync(request);

        await AssertProblemAsync(response, HttpStatusCode.RequestEntityTooLarge);
    }

    [Test]
    public async Task Post_WhenTheBodyIsJustUnderTheLimit_IsAccepted()
    {
        var padding = BodyLimit - Encoding.UTF8.GetByteCount(Order()) - 1;
        var body = Order().Replace("\"items\"", new string(' ', padding) + "\"items\"");

        var response = await PostAsync(body);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Accepted));
    }

    [TestCase(100, HttpStatusCode.Accepted)]
    [TestCase(101, HttpStatusCode.BadRequest)]
    public async Task Post_WhenTheOrderHasManyItems_AcceptsAtMostOneHundred(int count, HttpStatusCode expected)
    {
        var items = string.Join(",", Enumerable.Repeat("""{"product_id":"PROD-001","quantity":1,"price":1}""", count));

        var response = await PostAsync($$"""{"user_id":"USER-LIMITS","items":[{{items}}]}""");

        await AssertOutcomeAsync(response, expected, "items");
    }

    [TestCase("1", HttpStatusCode.Accepted)]
    [TestCase("10000", HttpStatusCode.Accepted)]
    [TestCase("10001", HttpStatusCode.BadRequest)]
    [TestCase("0", HttpStatusCode.BadRequest)]
    [TestCase("2147483648", HttpStatusCode.BadRequest)]
    [TestCase("1e3", HttpStatusCode.BadRequest)]
    public async Task Post_WhenQuantityIsAtOrPastItsRange_AcceptsOneToTenThousand(string quantity, HttpStatusCode expected)
    {
        var response = await PostAsync(Order(quantity: quantity));

        await AssertOutcomeAsync(response, expected, "items[0].quantity");
    }

    [TestCase("0.01", HttpStatusCode.Accepted)]
    [TestCase("1000000", HttpStatusCode.Accepted)]
    [TestCase("1000000.00", HttpStatusCode.Accepted)]
    [TestCase("9.10", HttpStatusCode.Accepted)]
    [TestCase("1000000.01", HttpStatusCode.BadRequest)]
    [TestCase("0.001", HttpStatusCode.BadRequest)]
    [TestCase("9.999", HttpStatusCode.BadRequest)]
    [TestCase("1E-30", HttpStatusCode.BadRequest)]
    [TestCase("79228162514264337593543950336", HttpStatusCode.BadRequest)]
    [TestCase("-0.01", HttpStatusCode.BadRequest)]
    public async Task Post_WhenPriceIsAtOrPastItsRange_AcceptsOneCentToOneMillionWithTwoDecimals(string price, HttpStatusCode expected)
    {
        var response = await PostAsync(Order(price: price));

        await AssertOutcomeAsync(response, expected, "items[0].price");
    }

    [Test]
    public async Task Post_WhenEveryLineIsAtItsMaximum_ComputesTheTotalWithoutOverflow()
    {
        var items = string.Join(",", Enumerable.Repeat("""{"product_id":"PROD-001","quantity":10000,"price":1000000}""", 100));

        var response = await PostAsync($$"""{"user_id":"USER-LIMITS","items":[{{items}}]}""");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Accepted));
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.That(body.GetProperty("total_amount").GetDecimal(), Is.EqualTo(1_000_000_000_000m));
    }

    [TestCase("""{"user_id":"USER-LIMITS","items":[{"product_id":"PROD-001","quantity":1,"price":5}],"total_amount":0.01}""", "total_amount")]
    [TestCase("""{"user_id":"USER-LIMITS","items":[{"product_id":"PROD-001","quantity":1,"price":5,"line_total":0.01}]}""", "items[0].line_total")]
    public async Task Post_WhenTheClientSendsATotal_Refuses400AndNeverUsesIt(string body, string field)
    {
        var response = await PostAsync(body);

        Assert.That(await ValidationErrorsAsync(response), Does.Contain(field));
    }

    [TestCase(64, HttpStatusCode.Accepted)]
    [TestCase(65, HttpStatusCode.BadRequest)]
    public async Task Post_WhenUserIdIsLong_AcceptsAtMost64Characters(int length, HttpStatusCode expected)
    {
        var response = await PostAsync(Order(user: "U" + new string('1', length - 1)));

        await AssertOutcomeAsync(response, expected, "user_id");
    }

    [TestCase(64, HttpStatusCode.Accepted)]
    [TestCase(65, HttpStatusCode.BadRequest)]
    public async Task Post_WhenProductIdIsLong_AcceptsAtMost64Characters(int length, HttpStatusCode expected)
    {
        var response = await PostAsync(Order(product: "P" + new string('1', length - 1)));

        await AssertOutcomeAsync(response, expected, "items[0].product_id");
    }

    [TestCase("USER-1\\n")]
    [TestCase("USER-1\\r\\nX-Injected: yes")]
    [TestCase("USER\\u0000")]
    [TestCase("USER-\\u0430")]
    [TestCase("USER-1 ")]
    [TestCase(" USER-1")]
    [TestCase("USER/../1")]
    [TestCase("<script>")]
    [TestCase("USER-1'; DROP TABLE orders_orders;--")]
    public async Task Post_WhenUserIdHasCharactersOutsideTheIdFormat_Returns400NamingIt(string user)
    {
        var response = await PostAsync(Order(user: user));

        Assert.That(await ValidationErrorsAsync(response), Is.EquivalentTo(new[] { "user_id" }));
    }

    [TestCase(128, HttpStatusCode.Accepted)]
    [TestCase(129, HttpStatusCode.BadRequest)]
    public async Task Post_WhenIdempotencyKeyIsLong_AcceptsAtMost128Characters(int length, HttpStatusCode expected)
    {
        var response = await PostAsync(Order(), idempotencyKey: Guid.NewGuid().ToString("N") + new string('k', length - 32));

        await AssertOutcomeAsync(response, expected, "Idempotency-Key");
    }

    [Test]
    public async Task Post_WhenJsonNestsEightDeep_IsReadAndOnlyTheUnknownFieldIsRefused()
    {
        var response = await PostAsync(Nested(8));

        Assert.That(await ValidationErrorsAsync(response), Is.EquivalentTo(new[] { "x" }));
    }

    [TestCase(9)]
    [TestCase(5_000)]
    public async Task Post_WhenJsonNestsDeeperThanEight_Returns400AboutTheBody(int depth)
    {
        var response = await PostAsync(Nested(depth));

        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.That(problem.TryGetProperty("errors", out _), Is.False, "depth is the body's fault, not a field's");
    }

    [Test]
    public async Task Post_WhenJsonNestsDeeperThanTheBodyLimitAllows_Returns413()
    {
        var response = await PostAsync(Nested(BodyLimit));

        await AssertProblemAsync(response, HttpStatusCode.RequestEntityTooLarge);
    }

    /// <summary>A valid order plus a field "x" of nested arrays, so that the document is <paramref name="depth"/> deep.</summary>
    private static string Nested(int depth) => Order()[..^1] + ",\"x\":" + new string('[', depth - 1) + new string(']', depth - 1) + "}";

    [Test]
    public async Task Post_WhenAFieldAppearsTwice_Returns400NamingIt()
    {
        var response = await PostAsync("""{"user_id":"USER-A","user_id":"USER-B","items":[{"product_id":"PROD-001","quantity":1,"price":1}]}""");

        Assert.That(await ValidationErrorsAsync(response), Is.EquivalentTo(new[] { "user_id" }));
    }

    [TestCase("ORD-" + "X")]
    [TestCase("ORD-1%0D%0AX-Injected:%20yes")]
    [TestCase("..%2F..%2Fhealth%2Flive")]
    [TestCase("ORD-1' OR '1'='1")]
    public async Task GetAndCancel_WhenTheIdIsHostile_Return404ProblemNot500(string id)
    {
        var get = await host.Http.GetAsync($"/orders/{id}");
        var cancel = await host.Http.PostAsync($"/orders/{id}/cancel", null);

        await AssertProblemAsync(get, HttpStatusCode.NotFound);
        await AssertProblemAsync(cancel, HttpStatusCode.NotFound);
    }

    [TestCase("/orders/%00")]
    [TestCase("/orders/%C0%AF")]
    [TestCase("/orders/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    public async Task Get_WhenThePathIsMalformedOrLong_ReturnsA4xxNot500(string path)
    {
        var response = await host.Http.GetAsync(path.Replace("AAAAAAAAAA", new string('A', 600)));

        Assert.That((int)response.StatusCode, Is.InRange(400, 499));
    }

    /// <summary>A seeded fuzz of the body: mutations of a valid order never make the API answer 5xx.</summary>
    [Test]
    public async Task Post_WhenTheBodyIsRandomlyMutated_NeverAnswers5xx()
    {
        var random = new Random(TestContext.Parameters.Get("FuzzSeed", 20261125));
        var valid = Encoding.UTF8.GetBytes(Order());
        string[] fragments = ["{", "}", "[", "]", ",", ":", "\"", "\\", "null", "true", "1e999", "-0", "\"\\u0000\"", "\"\\ud800\"", "9999999999999999999999999999999", "0.0000000001", "[[[[[[[[[[", "\"items\"", "\"price\"", "\"user_id\""];
        var failures = new List<string>();
        for (var i = 0; i < 300; i++)
        {
            var body = valid.ToList();
            for (var m = random.Next(1, 4); m > 0; m--)
            {
                var at = random.Next(body.Count + 1);
                switch (random.Next(4))
                {
                    case 0 when body.Count > 0: body.RemoveAt(Math.Min(at, body.Count - 1)); break;
                    case 1: body.Insert(at, (byte)random.Next(256)); break;
                    case 2: body.InsertRange(at, Encoding.UTF8.GetBytes(fragments[random.Next(fragments.Length)])); break;
                    default: if (body.Count > 0) body[Math.Min(at, body.Count - 1)] = (byte)random.Next(256); break;
                }
            }
            var content = new ByteArrayContent(body.ToArray());
            content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
            var response = await host.Http.PostAsync("/orders", content);
            if ((int)response.StatusCode >= 500) failures.Add($"{(int)response.StatusCode} for {Convert.ToBase64String(body.ToArray())}");
        }

        Assert.That(failures, Is.Empty);
    }

    private static string Order(string user = "USER-LIMITS", string product = "PROD-001", string quantity = "1", string price = "2.50") =>
        $$"""{"user_id":"{{user}}","items":[{"product_id":"{{product}}","quantity":{{quantity}},"price":{{price}}}]}""";

    private Task<HttpResponseMessage> PostAsync(string body, string? idempotencyKey = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/orders") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        if (idempotencyKey is not null) request.Headers.Add("Idempotency-Key", idempotencyKey);
        return host.Http.SendAsync(request);
    }

    private static async Task AssertOutcomeAsync(HttpResponseMessage response, HttpStatusCode expected, string field)
    {
        if (expected == HttpStatusCode.Accepted) Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Accepted), await response.Content.ReadAsStringAsync());
        else Assert.That(await ValidationErrorsAsync(response), Is.EquivalentTo(new[] { field }));
    }

    private static async Task<IReadOnlyList<string>> ValidationErrorsAsync(HttpResponseMessage response)
    {
        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.That(problem.TryGetProperty("errors", out var errors), Is.True, "a validation problem names the fields");
        return errors.EnumerateObject().Select(p => p.Name).ToList();
    }

    private static async Task<JsonElement> AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status)
    {
        Assert.That(response.StatusCode, Is.EqualTo(status), await response.Content.ReadAsStringAsync());
        Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"));
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }
}
