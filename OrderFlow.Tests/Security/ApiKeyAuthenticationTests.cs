using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.Security;

/// <summary>API keys on the real host: every endpoint needs one except the public allow-list; a missing or wrong key is a 401 problem.</summary>
[TestFixture]
public sealed class ApiKeyAuthenticationTests
{
    private const string SecondKey = "second-key-for-rotation-0001";
    private const string Body = """{"user_id":"USER-AUTH","items":[{"product_id":"PROD-001","quantity":1,"price":2.50}]}""";

    private TestHost host = null!;
    private HttpClient anonymous = null!;

    [OneTimeSetUp]
    public async Task StartHost()
    {
        host = await TestHost.StartAsync(new Dictionary<string, string?> { ["OrderFlow:Api:Keys:1"] = SecondKey });
        anonymous = new HttpClient { BaseAddress = host.Http.BaseAddress };
    }

    [OneTimeTearDown]
    public async Task StopHost()
    {
        anonymous.Dispose();
        await host.DisposeAsync();
    }

    [TestCase("POST", "/orders")]
    [TestCase("GET", "/orders")]
    [TestCase("GET", "/orders/ORD-1")]
    [TestCase("POST", "/orders/ORD-1/cancel")]
    [TestCase("GET", "/openapi/v1.json")]
    public async Task Endpoint_WhenTheKeyIsMissing_Returns401ProblemAndDoesNothing(string method, string path)
    {
        var before = await OrderCountAsync();

        var response = await anonymous.SendAsync(Request(method, path, key: null));

        var problem = await AssertProblemAsync(response, HttpStatusCode.Unauthorized);
        Assert.That(problem.GetProperty("title").GetString(), Is.EqualTo("An API key is required"));
        Assert.That(response.Headers.WwwAuthenticate.ToString(), Does.Contain("X-Api-Key"));
        Assert.That(await OrderCountAsync(), Is.EqualTo(before));
    }

    [TestCase("wrong-key-but-long-enough-123")]
    [TestCase("TEST-API-KEY-0123456789ABCDEF")]
    [TestCase("test-api-key-0123456789abcde")]
    [TestCase("test-api-key-0123456789abcdefX")]
    [TestCase("test-api-key-0123456789abcdef,test-api-key-0123456789abcdef")]
    [TestCase("")]
    public async Task Endpoint_WhenTheKeyIsWrong_Returns401Problem(string key)
    {
        var response = await anonymous.SendAsync(Request("POST", "/orders", key));

        var problem = await AssertProblemAsync(response, HttpStatusCode.Unauthorized);
        Assert.That(problem.GetProperty("title").GetString(), Is.EqualTo("The API key is not valid"));
        if (key.Length > 0) Assert.That(await response.Content.ReadAsStringAsync(), Does.Not.Contain(key), "a problem never echoes the key");
    }

    [Test]
    public async Task Endpoint_WhenTheKeyHeaderIsSentTwice_Returns401Problem()
    {
        var request = Request("GET", "/orders", TestHost.ApiKey);
        request.Headers.Add("X-Api-Key", "another-value-entirely-000");

        var response = await anonymous.SendAsync(request);

        await AssertProblemAsync(response, HttpStatusCode.Unauthorized);
    }

    [TestCase(TestHost.ApiKey)]
    [TestCase(SecondKey)]
    public async Task Endpoint_WhenAnyConfiguredKeyIsSent_IsServed(string key)
    {
        var response = await anonymous.SendAsync(Request("POST", "/orders", key));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Accepted));
    }

    [Test]
    public async Task UnknownRoute_WhenTheKeyIsMissing_Returns401InsteadOfRevealingWhatExists()
    {
        var response = await anonymous.GetAsync("/admin/secret");

        await AssertProblemAsync(response, HttpStatusCode.Unauthorized);
    }

    [TestCase("/health/live")]
    [TestCase("/health/ready")]
    [TestCase("/metrics")]
    public async Task HealthAndMetrics_ByDefault_AreServedWithoutAKey(string path)
    {
        var response = await anonymous.GetAsync(path);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
    }

    [TestCase("/health/live/../../orders")]
    [TestCase("/health/%2E%2E/orders")]
    [TestCase("/metrics/../orders")]
    [TestCase("/health%2Flive")]
    [TestCase("/HEALTH/../orders")]
    public async Task PublicPaths_WhenSpelledToReachAnotherEndpoint_DoNotOpenIt(string path)
    {
        // Raw bytes: HttpClient would tidy the dot segments away before the server saw them.
        var status = await RawGetStatusAsync(path);

        Assert.That(status, Is.EqualTo(401));
        Assert.That(await RawGetStatusAsync("/health/live"), Is.EqualTo(200), "the raw request itself works");
    }

    private async Task<int> RawGetStatusAsync(string path)
    {
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(host.Http.BaseAddress!.Host, host.Http.BaseAddress.Port);
        await using var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"));
        using var reader = new StreamReader(stream, Encoding.ASCII);
        var statusLine = await reader.ReadLineAsync();
        return int.Parse(statusLine!.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
    }

    [Test]
    public async Task OpenApi_WhenKeysAreRequired_DescribesTheApiKeyHeader()
    {
        var document = await host.Http.GetFromJsonAsync<JsonElement>("/openapi/v1.json");

        var scheme = document.GetProperty("components").GetProperty("securitySchemes").GetProperty("ApiKey");
        Assert.That(scheme.GetProperty("type").GetString(), Is.EqualTo("apiKey"));
        Assert.That(scheme.GetProperty("in").GetString(), Is.EqualTo("header"));
        Assert.That(scheme.GetProperty("name").GetString(), Is.EqualTo("X-Api-Key"));
        Assert.That(document.GetProperty("security").GetArrayLength(), Is.EqualTo(1));
    }

    [Test]
    public async Task HealthAndMetrics_WhenConfiguredToRequireAKey_Return401WithoutOne()
    {
        await using var strict = await SecuredApp.StartAsync(new Dictionary<string, string?>
        {
            ["OrderFlow:Api:Keys:0"] = TestHost.ApiKey,
            ["OrderFlow:Api:RequireKeyFor:Health"] = "true",
            ["OrderFlow:Api:RequireKeyFor:Metrics"] = "true",
        }, MapLikeTheHost);

        await Assert.MultipleAsync(async () =>
        {
            Assert.That((await strict.Http.GetAsync("/health/live")).StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
            Assert.That((await strict.Http.GetAsync("/metrics")).StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
            Assert.That((await strict.Http.SendAsync(Request("GET", "/metrics", TestHost.ApiKey))).StatusCode, Is.EqualTo(HttpStatusCode.OK));
        });
    }

    [Test]
    public async Task EndpointsAddedLater_WhenNobodyAskedForProtection_NeedAKeyToo()
    {
        await using var app = await SecuredApp.StartAsync(new Dictionary<string, string?> { ["OrderFlow:Api:Keys:0"] = TestHost.ApiKey }, web =>
        {
            MapLikeTheHost(web);
            web.MapGet("/", () => "dashboard");
            web.MapGet("/alerts", () => "alerts");
            web.MapGet("/health-report", () => "not a health check");
        });

        await Assert.MultipleAsync(async () =>
        {
            foreach (var path in new[] { "/", "/alerts", "/health-report" })
                Assert.That((await app.Http.GetAsync(path)).StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized), path);
            Assert.That((await app.Http.SendAsync(Request("GET", "/alerts", TestHost.ApiKey))).StatusCode, Is.EqualTo(HttpStatusCode.OK));
        });
    }

    [Test]
    public async Task Host_WhenNoKeyIsConfiguredAndAnonymousIsAllowed_ServesEveryoneAndWarnsAtStartUp()
    {
        var logs = new CapturedLogs();
        await using var open = await TestHost.StartAsync(new Dictionary<string, string?>
        {
            ["OrderFlow:Api:Keys:0"] = null,
            ["OrderFlow:Api:AllowAnonymous"] = "true",
        }, logs: logs);
        using var client = new HttpClient { BaseAddress = open.Http.BaseAddress };

        var response = await client.PostAsync("/orders", new StringContent(Body, Encoding.UTF8, "application/json"));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Accepted));
        Assert.That(logs.Entries.Where(e => e.Level == LogLevel.Warning).Select(e => e.Text), Has.Some.Contains("API authentication is OFF"));
    }

    [Test]
    public void Host_WhenNoKeyIsConfiguredAndAnonymousIsNotAllowed_RefusesToStart()
    {
        var settings = new Dictionary<string, string?> { ["OrderFlow:Api:AllowAnonymous"] = "false" };

        var error = Assert.ThrowsAsync<OptionsValidationException>(async () => await SecuredApp.Build(settings).StartAsync());

        Assert.That(error!.Message, Does.Contain("OrderFlow__Api__Keys__0").And.Contain("AllowAnonymous"));
    }

    [Test]
    public void Host_WhenAKeyIsTooShort_RefusesToStartWithoutPrintingIt()
    {
        var settings = new Dictionary<string, string?> { ["OrderFlow:Api:Keys:0"] = "hunter2" };

        var error = Assert.ThrowsAsync<OptionsValidationException>(async () => await SecuredApp.Build(settings).StartAsync());

        Assert.That(error!.Message, Does.Contain("OrderFlow:Api:Keys:0").And.Not.Contain("hunter2"));
    }

    [Test]
    public async Task Host_WhenKeysAreConfigured_IgnoresAnonymousAndSaysSo()
    {
        var logs = new CapturedLogs();
        await using var app = await SecuredApp.StartAsync(new Dictionary<string, string?>
        {
            ["OrderFlow:Api:Keys:0"] = TestHost.ApiKey,
            ["OrderFlow:Api:AllowAnonymous"] = "true",
            ["Logging:LogLevel:OrderFlow"] = "Information",
        }, web => web.MapGet("/x", () => "x"), logs);

        Assert.That((await app.Http.GetAsync("/x")).StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That(logs.Entries.Select(e => e.Text), Has.Some.Contains("AllowAnonymous is ignored while keys are configured"));
        Assert.That(logs.Entries.Select(e => e.Text), Has.None.Contains(TestHost.ApiKey));
    }

    private static void MapLikeTheHost(WebApplication app)
    {
        app.MapGet("/health/live", () => "Healthy");
        app.MapGet("/metrics", () => "# metrics");
        app.MapGet("/orders", () => "[]");
    }

    private static HttpRequestMessage Request(string method, string path, string? key)
    {
        var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (method == "POST") request.Content = new StringContent(path == "/orders" ? Body : "", Encoding.UTF8, "application/json");
        if (key is not null) request.Headers.TryAddWithoutValidation("X-Api-Key", key);
        return request;
    }

    private async Task<int> OrderCountAsync()
    {
        await using var scope = host.Scope();
        return scope.ServiceProvider.GetRequiredService<OrderFlow.Orders.Data.OrdersDbContext>().Orders.Count();
    }

    private static async Task<JsonElement> AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status)
    {
        Assert.That(response.StatusCode, Is.EqualTo(status));
        Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"));
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.That(problem.GetProperty("status").GetInt32(), Is.EqualTo((int)status));
        return problem;
    }
}
