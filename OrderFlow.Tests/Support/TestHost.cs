using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OrderFlow.Host;
using OrderFlow.Host.Broker;

namespace OrderFlow.Tests.Support;

/// <summary>
/// The real host, in-process, on a loopback port of its own, with its own SQLite file. By default
/// it also gets an embedded broker of its own, so no test sees another test's events.
/// </summary>
public sealed class TestHost : IAsyncDisposable
{
    private readonly WebApplication app;
    private readonly EmbeddedBroker? ownBroker;
    private readonly bool ownsDirectory;

    private TestHost(WebApplication app, EmbeddedBroker? ownBroker, string directory, bool ownsDirectory)
    {
        this.app = app;
        this.ownBroker = ownBroker;
        this.ownsDirectory = ownsDirectory;
        Directory = directory;
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        Http = new HttpClient { BaseAddress = new Uri(address), Timeout = TimeSpan.FromSeconds(30) };
        Http.DefaultRequestHeaders.Add("X-Api-Key", ApiKey);
    }

    /// <summary>The key every test host accepts; <see cref="Http"/> sends it.</summary>
    public const string ApiKey = "test-api-key-0123456789abcdef";

    public static readonly JsonSerializerOptions Json = CreateJson();

    public HttpClient Http { get; }
    public IServiceProvider Services => app.Services;
    public string Directory { get; }
    public string DatabasePath => Path.Combine(Directory, "orderflow.db");
    public EmbeddedBroker? Broker => ownBroker;

    /// <summary>
    /// Starts a host. <paramref name="broker"/> null: a fresh broker for this host alone. A setting
    /// given as null removes that default (appsettings.json then decides). <paramref name="logs"/>
    /// receives every log entry from start-up on.
    /// </summary>
    public static async Task<TestHost> StartAsync(IDictionary<string, string?>? settings = null, EmbeddedBroker? broker = null, string? directory = null,
        Microsoft.Extensions.Logging.ILoggerProvider? logs = null)
    {
        var ownBroker = broker is null ? EmbeddedBroker.Start(0, 3) : null;
        var ownsDirectory = directory is null;
        directory ??= Path.Combine(Path.GetTempPath(), "orderflow-tests", Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(directory);
        var config = DefaultSettings(directory, (broker ?? ownBroker)!.Port);
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
            if (value is null) config.Remove(key); else config[key] = value;
        var app = await OrderFlowApp.BuildWebAsync([], builder => builder.AddInMemoryCollection(config));
        if (logs is not null) app.Services.GetRequiredService<Microsoft.Extensions.Logging.ILoggerFactory>().AddProvider(logs);
        await app.StartAsync();
        return new TestHost(app, ownBroker, directory, ownsDirectory);
    }

    public static Dictionary<string, string?> DefaultSettings(string directory, int brokerPort) => new()
    {
        ["Urls"] = "http://127.0.0.1:0",
        ["Kafka:BootstrapServers"] = "embedded",
        ["Kafka:EmbeddedPort"] = brokerPort.ToString(),
        ["OrderFlow:Database:Path"] = Path.Combine(directory, "orderflow.db"),
        ["OrderFlow:Messaging:InitialBackoffMs"] = "20",
        ["OrderFlow:Messaging:MaxBackoffMs"] = "200",
        ["OrderFlow:Modules:Orders:SagaCheckInterval"] = "00:00:00.200",
        ["Logging:LogLevel:Default"] = "Warning",
        ["Logging:LogLevel:OrderFlow"] = "Warning",
        // The API as deployed: a key on every request (Http sends it). Rate limits are tested in
        // Security/RateLimitTests; here they are out of the way of tests that poll quickly.
        ["OrderFlow:Api:Keys:0"] = ApiKey,
        ["OrderFlow:Api:RateLimit:PermitsPerSecond"] = "100000",
        ["OrderFlow:Api:RateLimit:Burst"] = "100000",
    };

    public T Service<T>() where T : notnull => app.Services.GetRequiredService<T>();

    /// <summary>The host's own client factory: configured for the broker this host uses.</summary>
    public OrderFlow.Messaging.KafkaClientFactory KafkaClients => Service<OrderFlow.Messaging.KafkaClientFactory>();

    /// <summary>A scope for reading a module's store directly.</summary>
    public AsyncServiceScope Scope() => app.Services.CreateAsyncScope();

    public async Task<string> PlaceOrderAsync(string userId, params (string ProductId, int Quantity, decimal Price)[] items)
    {
        var response = await Http.PostAsJsonAsync("/orders", new
        {
            user_id = userId,
            items = items.Select(i => new { product_id = i.ProductId, quantity = i.Quantity, price = i.Price }),
        });
        response.EnsureSuccessStatusCode();
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        return body.GetProperty("order_id").GetString()!;
    }

    public async Task<JsonElement> GetOrderAsync(string orderId)
    {
        var response = await Http.GetAsync($"/orders/{orderId}");
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    public async Task<string> StatusOfAsync(string orderId) => (await GetOrderAsync(orderId)).GetProperty("status").GetString()!;

    /// <summary>Waits until the order reaches <paramref name="status"/>; returns the order.</summary>
    public Task<JsonElement> WaitForStatusAsync(string orderId, string status, TimeSpan? timeout = null) =>
        Eventually.Value(() => GetOrderAsync(orderId), o => o.GetProperty("status").GetString() == status,
            $"order {orderId} to become {status}", timeout);

    public async Task StopAsync() => await app.StopAsync();

    /// <summary>
    /// Waits until every consumer group of this host has committed the end of every partition it
    /// reads — the lag the host's own monitor measures is zero: all messages so far are applied
    /// (offsets are committed only after the database commit).
    /// </summary>
    public Task WaitUntilDrainedAsync(TimeSpan? timeout = null)
    {
        var registrations = app.Services.GetServices<OrderFlow.Messaging.EventConsumerRegistration>().DistinctBy(r => r.GroupId).ToList();
        return Eventually.Until(async () =>
        {
            using var admin = new Confluent.Kafka.AdminClientBuilder(KafkaClients.AdminConfig()).Build();
            var lag = await OrderFlow.Messaging.ConsumerLagMonitor.LagOfAsync(admin, registrations);
            return registrations.All(r => lag.TryGetValue(r.GroupId, out var partitions) && partitions.All(p => p.Lag == 0));
        }, "every consumer group to have committed the end of its partitions", timeout);
    }

    /// <summary>Runs the invariant checks of <c>verify</c> against this host's store.</summary>
    public async Task<IReadOnlyList<OrderFlow.Host.Cli.InvariantResult>> CheckInvariantsAsync(TimeSpan? grace = null)
    {
        await using var scope = Scope();
        var checker = ActivatorUtilities.CreateInstance<OrderFlow.Host.Cli.InvariantChecker>(scope.ServiceProvider);
        return await checker.CheckAsync(TimeSpan.FromMinutes(2), grace ?? TimeSpan.Zero, CancellationToken.None);
    }

    /// <summary>Waits until every invariant holds; fails with the violations otherwise.</summary>
    public async Task AssertInvariantsEventuallyHoldAsync(TimeSpan? timeout = null)
    {
        IReadOnlyList<OrderFlow.Host.Cli.InvariantResult> results = [];
        try
        {
            await Eventually.Until(async () => (results = await CheckInvariantsAsync()).All(r => r.Holds), "every invariant of SPEC §8 to hold", timeout);
        }
        catch (AssertionException)
        {
            Assert.Fail(string.Join(Environment.NewLine, results.Where(r => !r.Holds).SelectMany(r => r.Violations.Take(10).Select(v => $"#{r.Number}: {v}"))));
        }
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await app.StopAsync();
        await app.DisposeAsync();
        if (ownBroker is not null) await ownBroker.DisposeAsync();
        if (ownsDirectory)
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
        }
    }

    private static JsonSerializerOptions CreateJson()
    {
        var options = new JsonSerializerOptions();
        OrderFlowApp.ConfigureJson(options);
        return options;
    }
}
