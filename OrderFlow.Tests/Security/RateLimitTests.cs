using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.Security;

/// <summary>The rate limiter of the real host: a bucket per API key, or per client address without a valid key; over it → 429 with Retry-After.</summary>
[TestFixture]
public sealed class RateLimitTests
{
    // A key per test, so that no test finds a bucket another one emptied.
    private const string FirstKey = "rate-limit-client-one-00001";
    private const string SecondKey = "rate-limit-client-two-00002";
    private const string ThirdKey = "rate-limit-client-three-003";
    private const int Burst = 3;

    private TestHost host = null!;

    // One token a second and a burst of three: the fourth request within a second is refused. A
    // refill may land during a test, so the tests allow one extra success, never more.
    [OneTimeSetUp]
    public async Task StartHost() => host = await TestHost.StartAsync(new Dictionary<string, string?>
    {
        ["OrderFlow:Api:Keys:1"] = FirstKey,
        ["OrderFlow:Api:Keys:2"] = SecondKey,
        ["OrderFlow:Api:Keys:3"] = ThirdKey,
        ["OrderFlow:Api:RateLimit:PermitsPerSecond"] = "1",
        ["OrderFlow:Api:RateLimit:Burst"] = Burst.ToString(),
    });

    [OneTimeTearDown]
    public async Task StopHost() => await host.DisposeAsync();

    [Test]
    public async Task Requests_WhenAKeyExceedsItsLimit_Get429ProblemWithRetryAfter()
    {
        var responses = await BurstAsync(FirstKey, 8);

        Assert.That(responses.Take(Burst).Select(r => r.StatusCode), Is.All.EqualTo(HttpStatusCode.OK));
        var refused = responses.Where(r => r.StatusCode == HttpStatusCode.TooManyRequests).ToList();
        Assert.That(refused, Has.Count.GreaterThanOrEqualTo(8 - Burst - 1));
        var first = refused[0];
        Assert.That(first.Headers.RetryAfter?.Delta, Is.Not.Null.And.GreaterThanOrEqualTo(TimeSpan.FromSeconds(1)));
        Assert.That(first.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"));
        var problem = await first.Content.ReadFromJsonAsync<JsonElement>();
        Assert.That(problem.GetProperty("status").GetInt32(), Is.EqualTo(429));
    }

    [Test]
    public async Task Requests_WhenOneKeyIsExhausted_DoNotSlowAnotherKeyDown()
    {
        var exhausted = await BurstAsync(SecondKey, 8);

        var other = await BurstAsync(ThirdKey, Burst);

        Assert.That(exhausted.Select(r => r.StatusCode), Has.Some.EqualTo(HttpStatusCode.TooManyRequests));
        Assert.That(other.Select(r => r.StatusCode), Is.All.EqualTo(HttpStatusCode.OK));
    }

    [Test]
    public async Task KeyGuessing_WhenWrongKeysArriveQuickly_IsRateLimitedByClientAddress()
    {
        var guesses = await BurstAsync("guess-number-one-0000000000", 8);

        Assert.That(guesses.Take(Burst).Select(r => r.StatusCode), Is.All.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That(guesses.Count(r => r.StatusCode == HttpStatusCode.TooManyRequests), Is.GreaterThanOrEqualTo(8 - Burst - 1));
        Assert.That((await BurstAsync(TestHost.ApiKey, 1))[0].StatusCode, Is.EqualTo(HttpStatusCode.OK), "a valid key has a bucket of its own");
    }

    private async Task<List<HttpResponseMessage>> BurstAsync(string? key, int count)
    {
        using var client = new HttpClient { BaseAddress = host.Http.BaseAddress };
        if (key is not null) client.DefaultRequestHeaders.Add("X-Api-Key", key);
        var responses = new List<HttpResponseMessage>();
        for (var i = 0; i < count; i++) responses.Add(await client.GetAsync("/orders?page_size=1"));
        return responses;
    }
}
